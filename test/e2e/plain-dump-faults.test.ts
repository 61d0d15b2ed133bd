// The watchdog-gzip path of a plain heap dump (the JVM writes it plain, the watchdog follows the
// file, gzips it in parallel blocks, uploads by multipart and punches out what it has read)
// when things break on purpose: Diego stops the container in the middle of the upload, and
// the dump folder's disk fills while the JVM writes. All real: the staged buildpack launched
// as Cloud Foundry does, a real JVM out of heap, the real fallocate (recorded, see
// test/support/punched-dump.ts), a real tmpfs, the run's RGW behind a slow loopback proxy.
import t from 'tap';
import { access, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { launch, stage, type Droplet, type Launched } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { testStore } from '../support/test-store.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { tempDir } from '../support/temp.ts';
import { unmountOnExit } from '../support/cleanup.ts';
import { unlessMissing } from '../support/requirements.ts';
import { jvmFolder, keepDump, recordingFallocate, sha256 } from '../support/punched-dump.ts';

const MiB = 1024 * 1024;
/** Diego SIGKILLs the top process this long after SIGTERM (PLATFORM.md). */
const PLATFORM_KILL_MS = 10_000;
/** NoisyOom fills -Xmx64m with random longs: ~60 MiB of plain dump that gzip cannot shrink. */
const NOISY = 'java -Xmx64m -XX:-UsePerfData -cp . NoisyOom';

const missing = process.getuid?.() !== 0 ? 'mounting a tmpfs needs root'
  : await access('/usr/bin/fallocate').then(() => undefined, () => 'no /usr/bin/fallocate (util-linux) to punch holes with');

const store = await testStore(t, 'plain-faults');
const proxy = await startFaultProxy(store.s3.endpoint, store.bucket);
t.teardown(() => proxy.stop());
let droplet: Droplet;
t.before(async () => { droplet = await stage({ appDir: await javaApp('NoisyOom'), env: store.env('x') }); });

/** The watchdog-gzip path forced, punching on, the store slowed by the proxy; fallocate recorded. */
async function launchPlain(prefix: string, dumpDir: string | undefined, bytesPerSecond: number) {
  proxy.bytesPerSecond = bytesPerSecond;
  const recorder = await recordingFallocate();
  const app = launch(droplet, {
    command: NOISY,
    env: {
      ...store.env(prefix),
      AWS_ENDPOINT_URL: proxy.endpoint,
      PATH: `${recorder.bin}:${process.env.PATH}`,
      POSTMORTEM_DUMP_COMPRESSION: 'watchdog',
      POSTMORTEM_PUNCH_HOLES: 'true',
      POSTMORTEM_PART_SIZE: '5MiB',
      POSTMORTEM_QUEUE_SIZE: '2',
      POSTMORTEM_GRACE: '0s',
      POSTMORTEM_PROGRESS_EVERY: '1s',
      ...(dumpDir ? { POSTMORTEM_DUMP_DIR: dumpDir } : {}),
    },
  });
  await app.waitFor(/oom app: started/);
  // The link must be on the dump's filesystem: beside it when that is a test's tmpfs.
  const keepDir = dumpDir ? path.join(dumpDir, 'test-kept') : await tempDir('pm-kept-');
  await mkdir(keepDir, { recursive: true });
  const keep = path.join(keepDir, 'dump.hprof');
  const dumpPath = keepDump(jvmFolder(dumpDir ?? path.join(droplet.home, 'tmp/postmortem'), app), keep);
  return { app, recorder, keep, dumpPath };
}

/** Polls `check` every 50 ms until it is true, or fails naming `what` at the deadline. */
async function until(what: string, app: Launched, check: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms / 1000} s; output:\n${app.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** gunzip of a stored object, by the system's zcat: its sha256 and whether the gzip stream is whole. */
async function zcatSha(object: Buffer): Promise<{ sha: string; whole: boolean }> {
  const file = path.join(await tempDir('pm-object-'), 'heap.hprof.gz');
  await writeFile(file, object);
  const sha = (await execa('bash', ['-c', 'zcat "$1" | sha256sum', 'zcat', file], { reject: false })).stdout.split(' ')[0]!;
  return { sha, whole: (await execa('gzip', ['-t', file], { reject: false })).exitCode === 0 };
}

t.test('SIGTERM in the middle of the parallel-gzip upload of a punched plain dump', unlessMissing(missing), async (t) => {
  const { app, recorder, keep, dumpPath } = await launchPlain('stopped', undefined, 2 * MiB);
  const file = await dumpPath;
  // The app is gone on its own (the crash path runs), parts are on their way and a range is punched.
  await app.waitFor(/\[postmortem\] app .*exited with status 1/);
  await until('a punch and a second part of the dump', app, async () =>
    (await recorder.ranges()).length > 0 && proxy.seen.some((r) => r.key.endsWith('heap.hprof.gz') && r.query.get('partNumber') === '2'));
  t.notMatch(app.output(), /stored heap\.hprof/, 'SIGTERM comes before the upload could complete');
  const sentAt = Date.now();
  process.kill(app.pid, 'SIGTERM');
  const result = await app.process;
  const ms = Date.now() - sentAt;
  t.ok(ms < PLATFORM_KILL_MS, `the top process is gone ${ms} ms after SIGTERM (Diego kills at 10 s)`);
  t.equal(result.exitCode, 1, 'the app\'s own exit status');
  t.match(app.output(), /heap dumps: written plain by the JVM and compressed by the watchdog \(POSTMORTEM_DUMP_COMPRESSION=watchdog; /);
  const progress = app.output().split('\n').filter((l) => /uploading heap\.hprof: .*abandoned in \d+ s unless done/.test(l));
  const lastSaid = Number(/abandoned in (\d+) s/.exec(progress.at(-1) ?? '')?.[1]);
  t.ok(lastSaid <= 9, `the progress lines after the stop count down to the stop's deadline (last said ${lastSaid} s)`);

  const { dump, punched, zerosWhereGone } = await recorder.restore(keep);
  t.ok(punched >= 16 * MiB && zerosWhereGone, `${punched} bytes punched out before the stop`);
  t.equal(dump.subarray(0, 18).toString('latin1'), 'JAVA PROFILE 1.0.2');
  const keys = await store.list('stopped/');
  const objectKey = keys.find((k) => /\/heap\.hprof/.test(k));
  // Either no object, or (completed after all) the whole dump: never a completed object with wrong content.
  const stored = objectKey ? await zcatSha(await store.get(objectKey)) : undefined;
  t.ok(stored === undefined || (stored.whole && stored.sha === sha256(dump)),
    objectKey ? `the object at ${objectKey} is the whole dump` : `no object at the dump's key (${keys.join(', ') || 'nothing stored'})`);
  const pending = await store.client.send(new ListMultipartUploadsCommand({ Bucket: store.bucket, Prefix: 'stopped/' }));
  t.same((pending.Uploads ?? []).map((u) => u.Key), [], 'the multipart upload was aborted: no parts left on the server');

  // The log says what became of the evidence: the punched part is gone with the aborted
  // upload, the rest is still in the container, at the file's path.
  const line = app.output().split('\n').find((l) => /could not store heap\.hprof/.test(l)) ?? '';
  t.ok(line, `the failure is logged:\n${app.output()}`);
  const said = /its first [\d.]+ MiB \(bytes 0-(\d+)\) were punched out behind the upload and are LOST with it(?:; bytes (\d+)-(\d+) may be lost too \(a punch was under way\))? \(POSTMORTEM_PUNCH_HOLES=false keeps them\); the rest, from byte (\d+) on, is still at (\S+) in this container/.exec(line);
  t.ok(said, `it names the bytes lost with the aborted upload and where the rest is: ${line}`);
  const [, lastGone, underWayFrom, underWayTo, restFrom, where] = said ?? [];
  // The recorder logs a range before its fallocate runs: a punch under way is in `punched` already.
  t.equal(Number(restFrom), punched, 'the rest starts exactly where the punched bytes end');
  t.equal(Number(underWayTo ?? lastGone) + 1, punched, 'every punched byte is named as lost (or maybe lost, when its punch was under way)');
  if (underWayFrom !== undefined) t.equal(Number(underWayFrom), Number(lastGone) + 1);
  t.equal(where, file, 'at the dump\'s own path');
  const there = await stat(file);
  t.equal(there.ino, (await stat(keep)).ino, 'the path named is the dump the JVM wrote (the inode the test linked)');
  t.equal(there.size, Number(/Heap dump file created \[(\d+) bytes/.exec(app.output())?.[1]), 'whole: the size the JVM said it wrote');
  const info = await stat(keep);
  t.equal(info.size, dump.length, 'the file left has the dump\'s size');
  t.ok(info.blocks * 512 <= info.size - punched + MiB, `and is sparse where punched (${info.blocks * 512} of ${info.size} bytes allocated)`);
});

t.test('the dump folder\'s disk fills while the JVM writes its plain dump: stored, said INCOMPLETE, the watchdog lives', unlessMissing(missing), async (t) => {
  const dumpDir = await tempDir('pm-full-');
  // 24 MiB for a ~60 MiB dump. Punching cannot save it: the reader starts about a second after
  // the file appears (upload module, crash-loop slot) and is then held back by the upload (4 MiB/s,
  // 5 MiB parts × 2 in the pool), while the JVM writes at memory speed.
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dumpDir]);
  unmountOnExit(dumpDir);
  t.teardown(() => execa('umount', ['-l', dumpDir], { reject: false }).then(() => undefined));
  const { app, recorder, keep, dumpPath } = await launchPlain('full', dumpDir, 4 * MiB);
  await dumpPath;
  const result = await app.process;
  const output = app.output();
  t.equal(result.exitCode, 1, 'the watchdog survives ENOSPC and exits with the app\'s status');
  t.match(output, /heap dumps: written plain by the JVM and compressed by the watchdog \(POSTMORTEM_DUMP_COMPRESSION=watchdog; free disk 2[34](\.\d)? MiB/);
  t.match(output, /only 2[34](\.\d)? MiB free disk for heap dumps; a plain dump of this app can need 89\.6 MiB/, 'warned at start, with the strategy line\'s figure');
  // Pacing is on (the default limit, far above this disk): the JVM was held until the upload
  // read, then let go; the disk fills after that, and the hold must not turn that into a hang.
  t.match(output, /java_pid\d+\.hprof: its writer \(pid \d+\) waits for the upload to start/, 'the JVM was held at its dump\'s start');
  t.match(output, /Dump file is incomplete: No space left on device/, 'the JVM ran out of disk');
  t.match(output, /\[postmortem\] WARNING: stored INCOMPLETE heap\.hprof\.gz \(the JVM said "Dump file is incomplete: No space left on device"/);
  t.notMatch(output, /\[postmortem\] stored heap\.hprof/, 'never logged as plainly stored');
  t.match(output, /evidence of this crash: \S+ \(\d+ stored and verified, 1 stored but INCOMPLETE, 0 failed\)/, 'the summary counts it as incomplete');

  const keys = await store.list('full/');
  const report = JSON.parse((await store.get(keys.find((k) => k.endsWith('/report.json'))!)).toString('utf8'));
  const heap = report.artifacts.find((a: { name: string }) => a.name === 'heap.hprof.gz');
  t.equal(heap.complete, false, 'report.json: complete false');
  t.match(heap.incompleteReason, /No space left on device/, 'with the JVM\'s reason');
  const { dump, punched } = await recorder.restore(keep);
  t.ok(punched >= 16 * MiB, `${punched} bytes punched out behind the reader`);
  t.ok(dump.length <= 24 * MiB && dump.length > 0, `the JVM got ${dump.length} bytes onto the disk`);
  const { sha } = await zcatSha(await store.get(heap.key));
  t.equal(sha, sha256(dump), 'what is stored is exactly what the JVM wrote before the disk filled');
  t.equal(heap.sha256, sha, 'and the report\'s sha256 says so');
});

