// Every kind of death, caused for real, must leave its evidence in the store: native
// crashes leave cores that gdb can read, a JVM fatal error leaves its hs_err log, a hung
// JVM that is stopped leaves a thread dump, any death leaves a report and the log tail.
import t from 'tap';
import { writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { launch, stage, type Droplet } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { testStore } from '../support/test-store.ts';
import { tempDir } from '../support/temp.ts';

const store = await testStore(t, 'deaths');
const { bucket } = store;
const storeEnv = store.env('deaths');
const object = store.get;

interface Artifact { name: string; key: string; compression: string; sha256: string }
interface Evidence { report: { reason: string; exit: { status: number; signal: string | null }; artifacts: Artifact[] }; content(name: string): Promise<Buffer> }

/** The report the watchdog said it stored, and a reader for its artifacts (decompressed). */
async function evidenceOf(output: string): Promise<Evidence> {
  const key = /crash report -> s3:\/\/[^/]+\/(\S+)/.exec(output)?.[1];
  if (!key) throw new Error(`no report stored; output:\n${output}`);
  const report = JSON.parse((await object(key)).toString('utf8'));
  return {
    report,
    async content(name) {
      const a = report.artifacts.find((x: Artifact) => x.name === name || x.name === `${name}.gz`);
      if (!a) throw new Error(`${name} not in the report: ${report.artifacts.map((x: Artifact) => x.name).join(', ')}`);
      const bytes = await object(a.key);
      return a.compression === 'gzip' ? gunzipSync(bytes) : bytes;
    },
  };
}

/** An app folder with the native crasher built from source with debug info. */
async function nativeApp(): Promise<string> {
  const dir = await tempDir('pm-native-');
  await execa('cc', ['-g', '-O0', '-o', path.join(dir, 'crasher'), path.resolve('test/fixtures/native/crasher.c')]);
  return dir;
}

/** gdb's backtrace of a downloaded core, against the binary that crashed. */
async function backtrace(binary: string, core: Buffer): Promise<string> {
  const file = path.join(await tempDir('pm-core-'), 'core');
  await writeFile(file, core);
  const r = await execa('gdb', ['-batch', '-nx', '-ex', 'bt', binary, file], { reject: false, stdin: 'ignore' });
  return r.stdout + r.stderr;
}

const native = await nativeApp();
let nativeDroplet: Droplet;
t.before(async () => { nativeDroplet = await stage({ appDir: native, env: storeEnv }); });
// Many crashes of "instance 0" in a minute: the crash-loop limit is off except where tested.
const run = (droplet: Droplet, command: string, env: Record<string, string> = {}) =>
  launch(droplet, { command, env: { ...storeEnv, POSTMORTEM_GRACE: '0s', POSTMORTEM_MAX_DUMPS: '0', ...env } });

for (const [mode, signal, fn] of [['segv', 'SIGSEGV', 'process_order_segv'], ['abort', 'SIGABRT', 'validate_inventory_abort']] as const) {
  t.test(`native ${signal}: a core gdb can read, the signal in the report, the log tail`, async (t) => {
    const app = run(nativeDroplet, `./crasher ${mode}`);
    const result = await app.process;
    t.equal(result.exitCode, signal === 'SIGSEGV' ? 139 : 134);
    t.match(app.output(), /cores will be captured: core_pattern/);
    const e = await evidenceOf(app.output());
    t.equal(e.report.exit.signal, signal);
    t.equal(e.report.reason, 'signal');
    const core = await e.content('core');
    t.equal(core.subarray(0, 4).toString('latin1'), '\x7fELF', 'an ELF core');
    t.match(await backtrace(path.join(nativeDroplet.appDir, 'crasher'), core), new RegExp(fn), `gdb names ${fn}`);
    t.match((await e.content('log-tail.txt')).toString(), /crasher: (dereferencing NULL|abort\(\))/);
  });
}

t.test('kill -6 of a running native app (the grandchild of a shell): core and report', async (t) => {
  // sh stays the parent, like `npm start` -> sh -> node: the crasher is a grandchild.
  const app = run(nativeDroplet, 'sh -c "./crasher serve; echo crasher ended with \\$?; exit 9"');
  const line = await app.waitFor(/crasher: serving, pid \d+/);
  process.kill(Number(/pid (\d+)/.exec(line)![1]), 'SIGABRT');
  const result = await app.process;
  t.equal(result.exitCode, 9, 'the app\'s own status (sh exited 9)');
  t.match(app.output(), /crasher ended with 134/);
  const e = await evidenceOf(app.output());
  t.match(await backtrace(path.join(nativeDroplet.appDir, 'crasher'), await e.content('core')), /serve_forever/);
});

t.test('kill -9: report with the signal and the log tail, no core', async (t) => {
  const app = run(nativeDroplet, './crasher serve');
  const line = await app.waitFor(/crasher: serving, pid \d+/);
  process.kill(Number(/pid (\d+)/.exec(line)![1]), 'SIGKILL');
  const result = await app.process;
  t.equal(result.exitCode, 137);
  const e = await evidenceOf(app.output());
  t.equal(e.report.exit.signal, 'SIGKILL');
  t.same(e.report.artifacts.map((a) => a.name), ['log-tail.txt']);
});

t.test('JVM fatal error: hs_err log and a core', async (t) => {
  const droplet = await stage({ appDir: await javaApp('FatalError'), env: storeEnv });
  const app = run(droplet, 'java -Xmx32m -XX:+UseSerialGC -XX:-UsePerfData -cp . FatalError');
  const result = await app.process;
  t.equal(result.exitCode, 134, 'HotSpot aborts after a fatal error');
  const e = await evidenceOf(app.output());
  t.equal(e.report.reason, 'fatal-error');
  const hsErr = (await e.content('hs_err.log')).toString();
  t.match(hsErr, /A fatal error has been detected by the Java Runtime Environment/);
  t.match(hsErr, /SIGSEGV/);
  const core = await e.content('core');
  t.equal(core.subarray(0, 4).toString('latin1'), '\x7fELF', 'the JVM\'s core');
});

t.test('a stop of a deadlocked JVM: thread dump stored before it stops, all within 10 s', async (t) => {
  const droplet = await stage({ appDir: await javaApp('Deadlock'), env: storeEnv });
  const app = run(droplet, 'java -Xmx32m -XX:-UsePerfData -cp . Deadlock', { POSTMORTEM_GRACE: '60s' });
  await app.waitFor(/deadlock app: workers are stuck/);
  const sentAt = Date.now();
  process.kill(app.pid, 'SIGTERM');
  const result = await app.process;
  t.ok(Date.now() - sentAt < 10_000, `gone ${Date.now() - sentAt} ms after SIGTERM`);
  t.equal(result.exitCode, 143);
  const e = await evidenceOf(app.output());
  t.equal(e.report.reason, 'stop');
  const threads = (await e.content('threads.txt')).toString();
  t.match(threads, /"order-worker"/);
  t.match(threads, /Found one Java-level deadlock/);
});

t.test('postStop hooks: run after the evidence is stored, know where it is; a hung hook never outlasts the hold', async (t) => {
  const dir = await tempDir('pm-hookapp-');
  await copyFile(path.join(native, 'crasher'), path.join(dir, 'crasher'));
  const droplet = await stage({ appDir: dir, env: storeEnv });
  const hook = 'echo "reason=$POSTMORTEM_REASON status=$POSTMORTEM_EXIT_STATUS at $POSTMORTEM_LOCATION"; head -c 1 "$POSTMORTEM_REPORT"; echo " is the report"';
  const app = run(droplet, 'exit 3', { POSTMORTEM_POST_STOP: hook });
  t.equal((await app.process).exitCode, 3);
  t.match(app.output(), new RegExp(`post-stop POSTMORTEM_POST_STOP: reason=exit status=3 at s3://${bucket}/deaths/`));
  t.match(app.output(), /post-stop POSTMORTEM_POST_STOP: \{ is the report/);
  const hung = run(droplet, 'exit 4', { POSTMORTEM_POST_STOP: 'echo started; sleep 100', POSTMORTEM_GRACE: '2s' });
  const started = Date.now();
  t.equal((await hung.process).exitCode, 4);
  // The design's bound: the hook dies with the hold (2 s), never at its own 30 s timeout, nor at its 100 s sleep.
  t.ok(Date.now() - started < 30_000, `hold of 2 s ended the hook (${Date.now() - started} ms in all)`);
  t.match(hung.output(), /post-stop POSTMORTEM_POST_STOP killed \(with everything it started\): the hold ended/);
});

t.test('crash loop: the same instance stores its core once per window, then only the report', async (t) => {
  const env = { POSTMORTEM_MAX_DUMPS: '1', POSTMORTEM_DUMP_WINDOW: '1h', POSTMORTEM_STORE: `s3://${bucket}/loop` };
  const first = run(nativeDroplet, './crasher segv', env);
  await first.process;
  t.ok((await evidenceOf(first.output())).report.artifacts.some((a) => a.name === 'core.gz'), 'first crash: core stored');
  const second = run(nativeDroplet, './crasher segv', env);
  t.equal((await second.process).exitCode, 139);
  const e = await evidenceOf(second.output());
  t.notOk(e.report.artifacts.some((a) => a.name === 'core.gz'), 'second crash: core not stored');
  const failed = (e.report as unknown as { failed: { name: string; error: string; localPath?: string }[] }).failed;
  t.match(failed, [{ name: 'core', error: /skipped: instance 0 already stored 1 dumps in this 60-minute window/ }]);
  t.match(second.output(), /not storing core: .*; it is at .*\/core in this container/);
});

t.test('app files: chosen by glob, capped in size, stored as one tar.gz', async (t) => {
  const dir = await tempDir('pm-files-');
  await execa('mkdir', ['-p', path.join(dir, 'logs/archive')]);
  await writeFile(path.join(dir, 'logs/app.log'), 'request 1 ok\nrequest 2 failed\n');
  await writeFile(path.join(dir, 'logs/archive/old.log'), 'yesterday\n');
  await writeFile(path.join(dir, 'logs/huge.log'), Buffer.alloc(4096, 'x'));
  const droplet = await stage({ appDir: dir, env: storeEnv });
  const app = run(droplet, 'exit 3', { POSTMORTEM_APP_FILES: 'logs/**/*.log, nothing/*', POSTMORTEM_APP_FILES_MAX: '1KiB' });
  t.equal((await app.process).exitCode, 3);
  t.match(app.output(), /app files past POSTMORTEM_APP_FILES_MAX left out: logs\/huge\.log/);
  const e = await evidenceOf(app.output());
  const tarball = path.join(await tempDir('pm-tar-'), 'files.tar.gz');
  await writeFile(tarball, await e.content('app-files.tar.gz'));
  const listing = (await execa('tar', ['-tzf', tarball])).stdout.split('\n').sort();
  t.same(listing, ['logs/app.log', 'logs/archive/old.log']);
});

t.test('a sidecar also wrapped by the launcher: the app\'s core is stored once, by one watchdog', async (t) => {
  const env = { ...storeEnv, POSTMORTEM_STORE: `s3://${bucket}/sidecar`, POSTMORTEM_GRACE: '0s', POSTMORTEM_MAX_DUMPS: '0' };
  // Both processes go through the launcher, as Diego starts sidecars (PLATFORM.md).
  const sidecar = launch(nativeDroplet, { command: 'echo sidecar up; while :; do sleep 0.2; done', env });
  await sidecar.waitFor(/sidecar up/);
  const app = launch(nativeDroplet, { command: 'sleep 1; ./crasher segv', env });
  t.equal((await app.process).exitCode, 139);
  // The sidecar's watchdog saw the same core appear; it is stopped only after the app's
  // evidence is complete, and its own uploads end with it. Then the bucket tells.
  process.kill(sidecar.pid, 'SIGTERM');
  await sidecar.process;
  const cores = (await store.list('sidecar/')).filter((k) => k.endsWith('/core.gz'));
  t.equal(cores.length, 1, `one core in the bucket: ${cores.join(' | ')}`) || t.comment(sidecar.output());
  const { report } = await evidenceOf(app.output());
  t.ok(report.artifacts.some((a) => a.key === cores[0]), 'stored by the watchdog of the app that crashed');
});
