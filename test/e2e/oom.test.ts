// The backbone, end to end and all real: a Java app staged with this buildpack and
// launched exactly as Cloud Foundry does runs out of heap; its heap dump must land in a
// real S3 server, match its report, and the container must be held, then exit with the
// JVM's own status.
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { launch, stage } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { testStore } from '../support/test-store.ts';

const store = await testStore(t, 'crash-dumps');
const { s3, bucket, client } = store;
const getBytes = store.get;
const storeEnv = store.env('prod');

t.test('a JVM out of heap leaves its heap dump in S3, the container is held, the status is the JVM\'s', async (t) => {
  const appDir = await javaApp('Oom');
  const droplet = await stage({ appDir, env: storeEnv });
  t.match(droplet.stagingOutput, /-----> Postmortem Buildpack version/);
  t.notMatch(droplet.stagingOutput, /\*\*WARNING\*\*/, 'no staging warnings');

  const graceMs = 3000;
  const app = launch(droplet, {
    command: 'java -Xmx48m -XX:-UsePerfData -cp . Oom',
    env: { ...storeEnv, POSTMORTEM_GRACE: `${graceMs}ms` },
  });
  // The launcher's PID became the watchdog's: it is the container's top process.
  await app.waitFor(/oom app: started/);
  const cmdline = await readFile(`/proc/${app.pid}/cmdline`, 'utf8');
  t.match(cmdline, /watchdog\.mjs\0--\0bash\0-c\0java -Xmx48m/, 'top process is the watchdog, app command unchanged');
  t.notMatch(cmdline, new RegExp(droplet.stagingRoot), 'no staging path at launch');

  const stored = await app.waitFor(/\[postmortem\] stored heap\.hprof/);
  const holding = await app.waitFor(/\[postmortem\] holding this container/);
  const result = await app.process;
  const exitedAt = Date.now();
  const oomAt = app.timeOf(/Dumping heap to/)!;
  const storedAt = app.timeOf(/\[postmortem\] stored heap\.hprof/)!;
  const holdAt = app.timeOf(/\[postmortem\] holding this container/)!;
  t.equal(result.exitCode, 1, 'exit status of the JVM (uncaught OutOfMemoryError = 1)');
  t.ok(exitedAt - holdAt >= graceMs - 200, `held ${exitedAt - holdAt} ms >= grace ${graceMs} ms`);
  t.match(holding, /cf ssh crashy -i 0/);
  t.comment(`JVM starts dumping -> heap dump stored in S3: ${storedAt - oomAt} ms (${stored})`);

  // What is in the bucket, read with the plain SDK (not our code).
  const listing = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'prod/' }));
  const keys = (listing.Contents ?? []).map((o) => o.Key!);
  const reportKey = keys.find((k) => k.endsWith('/report.json'));
  t.ok(reportKey, `report.json stored (${keys.join(', ')})`);
  t.match(reportKey!, /^prod\/acme\/dev\/crashy\/\d{4}-\d{2}-\d{2}\/\d{8}T\d{6}Z-0-oom\/report\.json$/);
  const report = JSON.parse((await getBytes(reportKey!)).toString('utf8'));
  t.equal(report.reason, 'oom');
  t.equal(report.exit.status, 1);
  t.equal(report.app.name, 'crashy');
  t.equal(report.app.instanceIndex, '0');
  t.match(report.jvm.javaToolOptions, /-XX:\+HeapDumpOnOutOfMemoryError/, 'JVM flags in the report');
  t.equal(report.environment.AWS_SECRET_ACCESS_KEY, '***', 'secrets masked in the report');
  t.notOk(JSON.stringify(report).includes(s3.secretAccessKey), 'the secret key appears nowhere in the report');
  const heap = report.artifacts.find((a: { name: string }) => a.name.startsWith('heap.hprof'));
  t.ok(heap, 'heap dump in the report');
  t.ok(keys.includes(heap.key), 'the reported object exists');
  const object = await getBytes(heap.key);
  t.equal(object.length, heap.storedSize);
  t.equal(createHash('sha256').update(object).digest('hex'), heap.storedSha256, 'stored sha256 matches');
  const content = heap.compression === 'gzip' ? gunzipSync(object) : object;
  t.equal(createHash('sha256').update(content).digest('hex'), heap.sha256, 'content sha256 in the report matches the decompressed object');
  t.equal(content.subarray(0, 18).toString('latin1'), 'JAVA PROFILE 1.0.2', 'it is an hprof heap dump');
  t.ok(content.length > 20 * 1024 * 1024, `dump holds the heap (${content.length} bytes)`);
  const tail = report.artifacts.find((a: { name: string }) => a.name === 'log-tail.txt');
  t.ok(tail, 'log tail stored');
  t.match((await getBytes(tail.key)).toString('utf8'), /java\.lang\.OutOfMemoryError/);
});

t.test('credentials from a bound user-provided service tagged postmortem; no secret in the logs', async (t) => {
  const appDir = await javaApp('Oom');
  const vcapServices = JSON.stringify({
    'user-provided': [{
      name: 'crash-dump-store', label: 'user-provided', tags: ['postmortem'],
      credentials: { bucket, endpoint: s3.endpoint, access_key_id: s3.accessKeyId, secret_access_key: s3.secretAccessKey, region: s3.region, prefix: 'bound' },
    }],
  });
  const droplet = await stage({ appDir, env: { VCAP_SERVICES: vcapServices } });
  t.notMatch(droplet.stagingOutput, /\*\*WARNING\*\*/);
  t.match(droplet.stagingOutput, new RegExp(`store: s3://${bucket}/bound \\(service "crash-dump-store"\\)`));
  const app = launch(droplet, {
    command: 'java -Xmx32m -XX:-UsePerfData -cp . Oom',
    env: { VCAP_SERVICES: vcapServices, POSTMORTEM_GRACE: '0s' },
  });
  const result = await app.process;
  t.equal(result.exitCode, 1);
  t.match(app.output(), new RegExp(`stored heap\\.hprof(\\.gz)?: .* -> s3://${bucket}/bound/acme/dev/crashy/`));
  t.notMatch(app.output(), new RegExp(s3.secretAccessKey), 'secret key never printed');
  const listing = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'bound/' }));
  t.ok((listing.Contents ?? []).some((o) => o.Key!.endsWith('/report.json')), 'report stored under the binding\'s prefix');
});
