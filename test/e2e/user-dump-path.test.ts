// The app's own -XX:HeapDumpPath, as Java apps often set it: a file in JAVA_OPTS, or a
// folder on the start command. Either is where the JVM writes (its flags win over ours in
// JAVA_TOOL_OPTIONS); the dump must be watched there and stored, complete, like our own.
// A real JVM, launched as Cloud Foundry does; the store read with a plain S3 client.
import t, { type Test } from 'tap';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { launch, stage } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { testStore } from '../support/test-store.ts';
import { tempDir } from '../support/temp.ts';

const store = await testStore(t, 'userdump');
/** The last record of a whole hprof: HEAP DUMP END (tag 0x2c, time 0, length 0). */
const HPROF_END = Buffer.from('2c0000000000000000', 'hex');

async function storedHeapDump(t: Test, prefix: string): Promise<void> {
  const listing = await store.client.send(new ListObjectsV2Command({ Bucket: store.bucket, Prefix: `${prefix}/` }));
  const reportKey = (listing.Contents ?? []).map((o) => o.Key!).find((k) => k.endsWith('/report.json'));
  t.ok(reportKey, 'a report is stored');
  const report = JSON.parse((await store.get(reportKey!)).toString('utf8'));
  const heap = report.artifacts.find((a: { name: string }) => a.name.startsWith('heap.hprof'));
  t.ok(heap, `the heap dump is in the report (${report.artifacts.map((a: { name: string }) => a.name).join(', ')})`);
  t.equal(heap.complete, true, 'complete: the JVM said it was created');
  const object = await store.get(heap.key);
  const content = heap.compression === 'gzip' ? gunzipSync(object) : object;
  t.equal(content.subarray(0, 18).toString('latin1'), 'JAVA PROFILE 1.0.2', 'an hprof heap dump');
  t.ok(content.subarray(-HPROF_END.length).equals(HPROF_END), 'whole: it ends with HEAP DUMP END');
}

t.test('a HeapDumpPath naming a file (in JAVA_OPTS, relative to the app) is watched as that file and stored', async (t) => {
  const appDir = await javaApp('Oom');
  await mkdir(path.join(appDir, 'dumps'));
  const env = { ...store.env('file'), POSTMORTEM_GRACE: '0s', JAVA_OPTS: '-XX:HeapDumpPath=dumps/oom.hprof' };
  const droplet = await stage({ appDir, env });
  const app = launch(droplet, { command: 'java $JAVA_OPTS -Xmx32m -XX:-UsePerfData -cp . Oom', env });
  const result = await app.process;
  t.equal(result.exitCode, 1);
  const output = app.output();
  t.match(output, /\[postmortem\] the app's -XX:HeapDumpPath=dumps\/oom\.hprof names a file: a heap dump written there is stored too/);
  t.match(output, /^Dumping heap to dumps\/oom\.hprof \.\.\./m, 'the JVM used the app\'s own path');
  t.match(output, /\[postmortem\] stored heap\.hprof\.gz: /, 'stored (gzip inside, although named .hprof)');
  await storedHeapDump(t, 'file');
});

t.test('a HeapDumpPath naming a folder (on the start command) is watched as a folder and stored', async (t) => {
  const folder = await tempDir('pm-user-dumps-');
  const env = { ...store.env('folder'), POSTMORTEM_GRACE: '0s' };
  const droplet = await stage({ appDir: await javaApp('Oom'), env });
  const app = launch(droplet, { command: `java -XX:HeapDumpPath=${folder} -Xmx32m -XX:-UsePerfData -cp . Oom`, env });
  const result = await app.process;
  t.equal(result.exitCode, 1);
  const output = app.output();
  t.match(output, new RegExp(`\\[postmortem\\] the app's -XX:HeapDumpPath=${folder} is a folder`));
  t.match(output, new RegExp(`^Dumping heap to ${folder}/java_pid\\d+\\.hprof`, 'm'));
  t.match(output, /\[postmortem\] stored heap\.hprof(\.gz)?: /);
  await storedHeapDump(t, 'folder');
});

t.test('a HeapDumpPath naming an existing file: the log says no dump can be written', async (t) => {
  const appDir = await javaApp('Oom');
  const env = { ...store.env('exists'), POSTMORTEM_GRACE: '0s', JAVA_OPTS: '-XX:HeapDumpPath=Oom.class' };
  const droplet = await stage({ appDir, env });
  const app = launch(droplet, { command: 'java $JAVA_OPTS -Xmx32m -XX:-UsePerfData -cp . Oom', env });
  await app.process;
  t.match(app.output(), /WARNING: the app's -XX:HeapDumpPath=Oom\.class names an existing file: the JVM will not overwrite it/);
});
