// JDK 17, the default strategy: the JVM writes its heap dump plain, the watchdog gzips it while
// following the file and punches out what it has read. All real: the staged buildpack launched
// as Cloud Foundry does, a real JVM out of heap, the real fallocate, the run's RGW.
//
// The dump's true bytes come from outside the watchdog's reader: the file hard-linked the
// moment it appears, plus what a recording fallocate copied out before each punch
// (test/support/punched-dump.ts).
import t, { type Test } from 'tap';
import { readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { launch, stage, type Droplet, type Launched } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { testStore } from '../support/test-store.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { tempDir } from '../support/temp.ts';
import { jvmFolder, keepDump, recordingFallocate, sha256 } from '../support/punched-dump.ts';

const MiB = 1024 * 1024;
const store = await testStore(t, 'plain-dumps');
const appDir = await javaApp('Oom', 'NoisyOom');
let droplet: Droplet;
t.before(async () => { droplet = await stage({ appDir, env: store.env('x') }); });

async function launchOom(prefix: string, env: Record<string, string>, command = 'java -Xmx64m -XX:-UsePerfData -cp . Oom') {
  const app = launch(droplet, { command, env: { ...store.env(prefix), POSTMORTEM_GRACE: '0s', ...env } });
  await app.waitFor(/oom app: started/);
  const keep = path.join(await tempDir('pm-kept-'), 'dump.hprof');
  const kept = keepDump(jvmFolder(path.join(droplet.home, 'tmp/postmortem'), app), keep);
  return { app, keep, kept };
}

/** The heap dump's report entry and the stored object's bytes, checked with gzip itself. */
async function storedDump(t: Test, prefix: string) {
  const keys = await store.list(`${prefix}/`);
  const reportKey = keys.find((k) => k.endsWith('/report.json'));
  t.ok(reportKey, `report stored (${keys.join(', ')})`);
  const report = JSON.parse((await store.get(reportKey!)).toString('utf8'));
  const heap = report.artifacts.find((a: { name: string }) => a.name === 'heap.hprof.gz');
  t.ok(heap, 'heap.hprof.gz in the report');
  t.equal(heap.complete, true, 'complete');
  const local = path.join(await tempDir('pm-stored-'), 'heap.hprof.gz');
  await writeFile(local, await store.get(heap.key));
  t.equal((await execa('gzip', ['-t', local], { reject: false })).exitCode, 0, 'gzip -t passes');
  const zcat = (await execa('bash', ['-c', 'zcat "$1" | sha256sum', 'zcat', local])).stdout.split(' ')[0];
  t.equal(zcat, heap.sha256, 'zcat of the stored object hashes to the report\'s sha256');
  return { heap, report };
}

function plainFlags(t: Test, app: Launched) {
  t.match(app.output(), /heap dumps: written plain by the JVM and compressed by the watchdog \(free disk [\d.]+ [GMT]iB, heap up to 64 MiB, a plain dump up to 89.6 MiB\)/);
  t.notMatch(app.output(), /JVM gzip|HeapDumpGzipLevel=[1-9]/);
}

t.test('punching off: the JVM writes plain, the stored .hprof.gz is exactly the dump on disk', async (t) => {
  const { app, keep, kept } = await launchOom('off', { POSTMORTEM_PUNCH_HOLES: 'false' });
  await kept;
  const result = await app.process;
  t.equal(result.exitCode, 1);
  plainFlags(t, app);
  const { heap, report } = await storedDump(t, 'off');
  t.notMatch(report.jvm.javaToolOptions, /HeapDumpGzipLevel=[1-9]/, 'JAVA_TOOL_OPTIONS asks for no JVM gzip');
  const dump = await readFile(keep);
  t.equal(dump.subarray(0, 18).toString('latin1'), 'JAVA PROFILE 1.0.2', 'the JVM wrote a plain hprof');
  t.equal(sha256(dump), heap.sha256, 'sha256 of the file the JVM wrote == the report\'s == zcat of the stored object');
  const info = await stat(keep);
  t.ok(info.blocks * 512 >= info.size, 'not punched: the dump is whole on disk');
  t.notMatch(app.output(), /punched out/);
});

t.test('punching on (default): the stored content is the dump\'s, and the dump on disk is left sparse', async (t) => {
  const recorder = await recordingFallocate();
  const { app, keep, kept } = await launchOom('on', { PATH: `${recorder.bin}:${process.env.PATH}` });
  await kept;
  const result = await app.process;
  t.equal(result.exitCode, 1);
  plainFlags(t, app);
  const { heap } = await storedDump(t, 'on');

  let next = 0;
  for (const [offset, length] of await recorder.ranges()) {
    t.equal(offset, next, `ranges punched in order, each after the last (${offset} +${length})`);
    next = offset + length;
  }
  const { dump, punched, zerosWhereGone } = await recorder.restore(keep);
  t.equal(punched, next);
  t.ok(zerosWhereGone, 'the punched ranges read as zeros in the file left on disk');
  t.ok(next >= 16 * MiB, `${next} bytes punched behind the reader`);
  t.equal(dump.subarray(0, 18).toString('latin1'), 'JAVA PROFILE 1.0.2');
  t.equal(sha256(dump), heap.sha256, 'the dump\'s bytes (copied before punching + left on disk) hash to the report\'s sha256');
  const info = await stat(keep);
  t.equal(info.size, heap.size, 'size kept');
  t.ok(info.blocks * 512 <= info.size - next + MiB, `sparse: ${info.blocks * 512} bytes allocated of ${info.size}`);
  t.match(app.output(), /java_pid\d+\.hprof: took up to [\d.]+ MiB of disk \(allocated blocks\); [\d.]+ MiB punched out behind the upload/);
});

t.test('no fallocate on PATH: one line says so, the upload is still exact', async (t) => {
  // Every tool of /usr/bin but fallocate (/bin is a link to /usr/bin here).
  const bin = await tempDir('pm-nofallocate-');
  for (const name of await readdir('/usr/bin')) if (name !== 'fallocate') await symlink(path.join('/usr/bin', name), path.join(bin, name));
  const { app, keep, kept } = await launchOom('nofallocate', { PATH: `${bin}:/usr/local/bin` });
  await kept;
  const result = await app.process;
  t.equal(result.exitCode, 1);
  const lines = app.output().split('\n').filter((l) => /not punched out behind the upload/.test(l));
  t.equal(lines.length, 1, 'said once');
  t.match(lines[0], /fallocate \(util-linux\) is not on PATH/);
  const { heap } = await storedDump(t, 'nofallocate');
  t.equal(sha256(await readFile(keep)), heap.sha256, 'the dump on disk, whole, hashes to the report\'s sha256');
});

t.test('the watchdog SIGKILLed mid-upload leaves no object at the dump\'s key, only an unfinished multipart upload', async (t) => {
  const proxy = await startFaultProxy(store.s3.endpoint, store.bucket);
  t.teardown(() => proxy.stop());
  proxy.bytesPerSecond = 4 * MiB; // random heap, gzip cannot shrink it: ~60 MiB takes ~15 s
  const { app, kept } = await launchOom('killed', { AWS_ENDPOINT_URL: proxy.endpoint, POSTMORTEM_PART_SIZE: '5MiB', POSTMORTEM_QUEUE_SIZE: '2' }, 'java -Xmx64m -XX:-UsePerfData -cp . NoisyOom');
  await kept;
  // Parts are on their way (the multipart upload exists), the upload is far from done.
  const deadline = Date.now() + 60_000;
  while (!proxy.seen.some((r) => r.key.endsWith('heap.hprof.gz') && r.query.has('partNumber') && r.query.get('partNumber') === '2')) {
    if (Date.now() > deadline) throw new Error(`no second part within 60 s; output:\n${app.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  process.kill(app.pid, 'SIGKILL');
  await app.process;
  t.notMatch(app.output(), /stored heap\.hprof/, 'killed before the upload completed');
  const keys = await store.list('killed/');
  t.notOk(keys.some((k) => /heap\.hprof/.test(k)), `no object at the dump's key (${keys.join(', ') || 'nothing stored'})`);
  const pending = await store.client.send(new ListMultipartUploadsCommand({ Bucket: store.bucket, Prefix: 'killed/' }));
  t.ok((pending.Uploads ?? []).some((u) => u.Key!.endsWith('/heap.hprof.gz')), 'the multipart upload is left unfinished (never completed, so never an object)');
});

t.test('an upload that fails after punching: the log says the dump left in the container lacks its punched part', async (t) => {
  const proxy = await startFaultProxy(store.s3.endpoint, store.bucket);
  t.teardown(() => proxy.stop());
  // The dump's upload never answers; everything else passes.
  proxy.rule = (request) => (request.key.endsWith('heap.hprof.gz') ? { kind: 'black-hole' } : undefined);
  const { app, keep, kept } = await launchOom('failed', { AWS_ENDPOINT_URL: proxy.endpoint, POSTMORTEM_UPLOAD_TIMEOUT: '6s' });
  const dumpPath = await kept;
  const result = await app.process;
  t.equal(result.exitCode, 1);
  const line = app.output().split('\n').find((l) => /could not store heap\.hprof/.test(l));
  t.ok(line, 'the failure is logged');
  const punched = /its first [\d.]+ MiB \(bytes 0-(\d+)\) were punched out behind the upload and are LOST with it.* \(POSTMORTEM_PUNCH_HOLES=false keeps them\); the rest, from byte (\d+) on,/.exec(line ?? '');
  t.ok(punched, `it names the part punched out, lost with the upload: ${line}`);
  t.ok(line!.includes(`is still at ${dumpPath} in this container`), 'and where the rest is');
  const info = await stat(keep);
  t.ok(info.blocks * 512 < info.size, `the file left is sparse: ${info.blocks * 512} of ${info.size} bytes allocated`);
  t.notOk((await store.list('failed/')).some((k) => /heap\.hprof/.test(k)), 'no object at the dump\'s key');
});
