// Deadlines that bind, end to end through the platform's launch sequence and a store broken
// on purpose (test/support/fault-proxy.ts in front of the real S3 server): after a crash
// everything ends by POSTMORTEM_UPLOAD_TIMEOUT, after a SIGTERM the top process is gone
// before Diego's SIGKILL (10 s) in every phase, hooks die with everything they started,
// abandoned multipart uploads are aborted, and whatever was not stored is named, in the log
// and in the report. Time bounds come from the design (the configured deadlines and the
// platform's 10 s), never from measured timings.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { launch, stage, type Droplet, type Launched } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { testStore } from '../support/test-store.ts';
import { tempDir } from '../support/temp.ts';

/** Diego SIGKILLs the top process this long after SIGTERM (PLATFORM.md). */
const PLATFORM_KILL_MS = 10_000;
const MiB = 1024 * 1024;

const store = await testStore(t, 'deadlines');
const proxy = await startFaultProxy(store.s3.endpoint, store.bucket);
t.teardown(() => proxy.stop());
t.beforeEach(() => { proxy.rule = () => undefined; proxy.bytesPerSecond = 0; proxy.down = false; proxy.refused = 0; proxy.seen.length = 0; });

const appDir = await tempDir('pm-deadlines-');
await writeFile(path.join(appDir, 'big.bin'), randomBytes(20 * MiB)); // random: gzip cannot shrink it
await writeFile(path.join(appDir, 'medium.bin'), randomBytes(12 * MiB));
let droplet: Droplet;
t.before(async () => { droplet = await stage({ appDir, env: store.env('x') }); });

const env = (prefix: string, more: Record<string, string> = {}) => ({
  ...store.env(prefix),
  AWS_ENDPOINT_URL: proxy.endpoint,
  POSTMORTEM_GRACE: '0s',
  POSTMORTEM_MAX_DUMPS: '0',
  POSTMORTEM_PART_SIZE: '5MiB',
  POSTMORTEM_QUEUE_SIZE: '2',
  POSTMORTEM_PROGRESS_EVERY: '1s',
  ...more,
});

/** Sends SIGTERM once `phase` shows in the output; the time until the top process was gone. */
async function stopDuring(app: Launched, phase: RegExp): Promise<{ exitCode: number | undefined; ms: number }> {
  await app.waitFor(phase, 60_000);
  const sentAt = Date.now();
  process.kill(app.pid, 'SIGTERM');
  const result = await app.process;
  return { exitCode: result.exitCode, ms: Date.now() - sentAt };
}

interface LocalReport { state: string; artifacts: { name: string }[]; failed: { name: string; error: string }[]; pending: string[] }
async function localReport(app: Launched): Promise<LocalReport> {
  const file = /crash report \(in progress\) at (\S+) in this container/.exec(app.output())?.[1];
  if (!file) throw new Error(`no local report logged:\n${app.output()}`);
  return JSON.parse(await readFile(file, 'utf8')) as LocalReport;
}

async function unfinishedUploads(prefix: string): Promise<number> {
  const listing = await store.client.send(new ListMultipartUploadsCommand({ Bucket: store.bucket, Prefix: `${prefix}/` }));
  return (listing.Uploads ?? []).length;
}

/** Processes whose command line contains the marker (a hook's leftovers). */
async function processesWith(marker: string): Promise<number> {
  let count = 0;
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.replace(/\0/g, ' ').includes(marker)) count++;
  }
  return count;
}

const fault = (name: string, exitCode: number | undefined, ms: number, outcome: string) =>
  t.comment(`FAULT | ${name} | exit ${exitCode} | ${ms} ms | ${outcome}`);

t.test('a black-hole store: the crash ends by POSTMORTEM_UPLOAD_TIMEOUT, the local report names every loss', async (t) => {
  proxy.rule = () => ({ kind: 'black-hole' });
  const started = Date.now();
  const app = launch(droplet, { command: 'echo about to fail; exit 3', env: env('blackhole', { POSTMORTEM_UPLOAD_TIMEOUT: '5s' }) });
  const result = await app.process;
  const ms = Date.now() - started;
  t.equal(result.exitCode, 3, 'the app\'s own status');
  t.ok(ms < 5000 + PLATFORM_KILL_MS, `gone ${ms} ms after the start (upload timeout 5 s)`);
  t.match(app.output(), /could not store report\.json \(final\): .*; the local copy is at \S+report\.json/);
  const report = await localReport(app);
  t.equal(report.state, 'final');
  t.same(report.artifacts, [], 'nothing claimed as stored');
  t.match(report.failed, [{ name: 'log-tail.txt' }]);
  t.notMatch(app.output(), /about \d{4,} s left/, 'no made-up estimates');
  fault('black-hole store, crash', result.exitCode, ms, `nothing stored; local report final, log tail named (${report.failed.map((f) => f.name).join(', ')})`);
});

t.test('a 1 MB/s store: an upload past POSTMORTEM_UPLOAD_TIMEOUT is abandoned and aborted, the report says so', async (t) => {
  proxy.bytesPerSecond = 1 * MiB;
  const started = Date.now();
  const app = launch(droplet, { command: 'echo about to fail; exit 3', env: env('slow', { POSTMORTEM_UPLOAD_TIMEOUT: '6s', POSTMORTEM_APP_FILES: 'big.bin' }) });
  const result = await app.process;
  const ms = Date.now() - started;
  t.equal(result.exitCode, 3);
  t.ok(ms < 6000 + PLATFORM_KILL_MS, `gone ${ms} ms after the start (upload timeout 6 s)`);
  t.match(app.output(), /abandoning app-files\.tar\.gz: POSTMORTEM_UPLOAD_TIMEOUT \(6 s\) nearly reached/);
  t.match(app.output(), /could not store app-files\.tar\.gz: .*aborted/);
  t.equal(await unfinishedUploads('slow'), 0, 'no multipart upload left on the server');
  const report = await localReport(app);
  t.equal(report.state, 'final');
  t.match(report.failed, [{ name: 'app-files.tar.gz' }]);
  t.ok(report.artifacts.some((a) => a.name === 'log-tail.txt'), 'the log tail is stored');
  t.match(app.output(), /crash report -> s3:\/\//, 'the final report is stored');
  fault('1 MB/s store, 20 MiB artifact, 6 s upload timeout', result.exitCode, ms, 'artifact abandoned and named in the stored report, 0 unfinished multipart uploads');
});

const retried = () => proxy.seen.some((r) => r.attempt > 1);
for (const [name, setup, fired] of [
  ['5xx bursts', () => { proxy.rule = (r) => (r.attempt === 1 && r.method !== 'GET' ? { kind: 'status', status: r.key.length % 2 ? 503 : 500 } : undefined); }, retried],
  ['resets mid-part', () => { proxy.rule = (r) => (r.query.has('partNumber') && r.attempt === 1 ? { kind: 'reset', afterBytes: MiB } : undefined); }, retried],
  ['the store down, then back', () => proxy.outage(1000), () => proxy.refused > 0],
] as const) {
  t.test(`${name}: retried, everything stored`, async (t) => {
    const started = Date.now();
    const app = launch(droplet, { command: 'echo about to fail; sleep 0.2; exit 3', env: env(name.replace(/\W+/g, '-'), { POSTMORTEM_UPLOAD_TIMEOUT: '60s', POSTMORTEM_APP_FILES: 'medium.bin' }) });
    (setup as () => void)();
    const result = await app.process;
    const ms = Date.now() - started;
    t.equal(result.exitCode, 3);
    t.match(app.output(), /crash report -> s3:\/\//);
    const report = await localReport(app);
    t.same(report.artifacts.map((a) => a.name).sort(), ['app-files.tar.gz', 'log-tail.txt']);
    t.same(report.failed, []);
    t.ok(fired(), 'the fault happened (requests were retried / refused)');
    fault(name, result.exitCode, ms, `nothing lost (${report.artifacts.length} artifacts stored)`);
  });
}

t.test('SIGTERM while an artifact uploads: gone before the platform kill, upload aborted, report stored', async (t) => {
  proxy.bytesPerSecond = 1 * MiB;
  const app = launch(droplet, { command: 'exit 3', env: env('stop-upload', { POSTMORTEM_STOP_DEADLINE: '7s', POSTMORTEM_APP_FILES: 'big.bin' }) });
  const { exitCode, ms } = await stopDuring(app, /uploading app-files\.tar\.gz/);
  t.equal(exitCode, 3, 'the app\'s own status');
  t.ok(ms < PLATFORM_KILL_MS, `gone ${ms} ms after SIGTERM`);
  t.equal(await unfinishedUploads('stop-upload'), 0, 'no multipart upload left on the server');
  const report = await localReport(app);
  t.match(report.failed, [{ name: 'app-files.tar.gz' }]);
  t.match(app.output(), /crash report -> s3:\/\//, 'the report is stored, naming the loss');
  fault('SIGTERM during an upload (1 MB/s)', exitCode, ms, 'artifact abandoned, named in the stored report; 0 unfinished uploads');
});

t.test('SIGTERM while the report is being stored (it never arrives): gone in time, the local report is final', async (t) => {
  proxy.rule = (r) => (r.key.endsWith('report.json') ? { kind: 'black-hole' } : undefined);
  const app = launch(droplet, { command: 'exit 3', env: env('stop-report', { POSTMORTEM_STOP_DEADLINE: '7s' }) });
  const { exitCode, ms } = await stopDuring(app, /crash report \(in progress\) at/);
  t.equal(exitCode, 3);
  t.ok(ms < PLATFORM_KILL_MS, `gone ${ms} ms after SIGTERM`);
  t.match(app.output(), /could not store report\.json/);
  const report = await localReport(app);
  t.equal(report.state, 'final');
  fault('SIGTERM while report.json hangs', exitCode, ms, 'report not stored, named in the log; local report final');
});

t.test('SIGTERM during a postStop hook: the hook and its children are killed, gone in time', async (t) => {
  const marker = `${31 + Math.random()}`.slice(0, 8);
  const app = launch(droplet, { command: 'exit 3', env: env('stop-hook', { POSTMORTEM_STOP_DEADLINE: '7s', POSTMORTEM_POST_STOP: `sleep ${marker} & echo hook started; sleep ${marker}`, POSTMORTEM_POST_STOP_TIMEOUT: '60s' }) });
  const { exitCode, ms } = await stopDuring(app, /post-stop POSTMORTEM_POST_STOP: hook started/);
  t.equal(exitCode, 3);
  t.ok(ms < PLATFORM_KILL_MS, `gone ${ms} ms after SIGTERM`);
  t.equal(await processesWith(`sleep ${marker}`), 0, 'nothing the hook started survives');
  fault('SIGTERM during a postStop hook', exitCode, ms, 'hook group killed, report stored before');
});

t.test('a hook whose child outlives it: killed with it at POSTMORTEM_POST_STOP_TIMEOUT, not waited for', async (t) => {
  const marker = `${32 + Math.random()}`.slice(0, 8);
  const app = launch(droplet, { command: 'exit 4', env: env('hook-grandchild', { POSTMORTEM_POST_STOP: `(sleep ${marker} &); echo hook started; exit 0`, POSTMORTEM_POST_STOP_TIMEOUT: '3s' }) });
  await app.waitFor(/post-stop POSTMORTEM_POST_STOP: hook started/);
  const startedAt = Date.now();
  const result = await app.process;
  const ms = Date.now() - startedAt;
  t.equal(result.exitCode, 4);
  t.ok(ms < 3000 + PLATFORM_KILL_MS, `gone ${ms} ms after the hook started (hook timeout 3 s)`);
  t.equal(await processesWith(`sleep ${marker}`), 0, 'the grandchild is gone too');
  const hung = launch(droplet, { command: 'exit 4', env: env('hook-hung', { POSTMORTEM_POST_STOP: `sleep ${marker} & echo hook started; wait`, POSTMORTEM_POST_STOP_TIMEOUT: '3s' }) });
  await hung.waitFor(/hook started/);
  const hungAt = Date.now();
  t.equal((await hung.process).exitCode, 4);
  t.ok(Date.now() - hungAt < 3000 + PLATFORM_KILL_MS, `a hung hook: gone ${Date.now() - hungAt} ms after it started`);
  t.match(hung.output(), /post-stop POSTMORTEM_POST_STOP killed \(with everything it started\): POSTMORTEM_POST_STOP_TIMEOUT \(3 s\) reached/);
  t.equal(await processesWith(`sleep ${marker}`), 0, 'nothing left running');
  fault('postStop hook with a surviving grandchild (timeout 3 s)', result.exitCode, ms, `the grandchild is killed with the hook's group, not waited for; a hung hook is killed at 3 s (gone ${Date.now() - hungAt} ms after it started)`);
});

t.test('SIGTERM during the hold: ends it, gone in time', async (t) => {
  const app = launch(droplet, { command: 'exit 3', env: env('stop-hold', { POSTMORTEM_GRACE: '60s', POSTMORTEM_STOP_DEADLINE: '7s' }) });
  const { exitCode, ms } = await stopDuring(app, /holding this container/);
  t.equal(exitCode, 3);
  t.ok(ms < PLATFORM_KILL_MS, `gone ${ms} ms after SIGTERM`);
  fault('SIGTERM during the hold', exitCode, ms, 'nothing lost (stored before the hold)');
});

t.test('SIGTERM to an app that ignores it: its process group is SIGKILLed in time', async (t) => {
  const app = launch(droplet, { command: "trap '' TERM; echo ignoring TERM; while :; do sleep 0.1; done", env: env('stop-stubborn', { POSTMORTEM_STOP_DEADLINE: '7s' }) });
  const { exitCode, ms } = await stopDuring(app, /ignoring TERM/);
  t.equal(exitCode, 137, 'killed by our SIGKILL (128+9)');
  t.ok(ms < PLATFORM_KILL_MS, `gone ${ms} ms after SIGTERM`);
  t.match(app.output(), /SIGKILL to its processes, to be gone within POSTMORTEM_STOP_DEADLINE \(7\.0 s\)/);
  fault('SIGTERM, app ignores it', exitCode, ms, 'app SIGKILLed by us before the deadline');
});

t.test('SIGTERM while a JVM writes its heap dump to a slow store: gone in time (default deadline), the loss named', async (t) => {
  proxy.bytesPerSecond = 1 * MiB;
  const jvm = await stage({ appDir: await javaApp('Oom'), env: store.env('x') });
  const app = launch(jvm, { command: 'java -Xmx96m -XX:+UseSerialGC -XX:-UsePerfData -cp . Oom', env: env('stop-dump', { POSTMORTEM_GZIP_LEVEL: '0' }) });
  const { exitCode, ms } = await stopDuring(app, /Dumping heap to|uploading heap/);
  const said = /\[postmortem\] app .*(exited with status (\d+)|killed by (SIG\w+))/.exec(app.output());
  t.ok(said, 'the log says how the app ended');
  t.ok(ms < PLATFORM_KILL_MS, `gone ${ms} ms after SIGTERM (POSTMORTEM_STOP_DEADLINE default 9 s)`);
  const report = await localReport(app);
  t.equal(report.state, 'final');
  t.ok(report.failed.some((f) => f.name.startsWith('heap')) || report.artifacts.some((a) => a.name.startsWith('heap')), 'the heap dump is either stored or named as failed');
  fault('SIGTERM while a JVM heap dump uploads (1 MB/s)', exitCode, ms, `dump ${report.artifacts.some((a) => a.name.startsWith('heap')) ? 'stored' : 'named as failed'} in the report; ${said?.[0] ?? ''}`);
});
