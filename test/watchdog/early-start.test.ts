// The app is spawned before the crash watch is loaded (watchdog.ts, after-spawn.ts). What
// happens in between must not be lost: a stop is forwarded at once, a crash's evidence
// written before the watch is ready is still stored, and a watch that cannot be loaded
// leaves the app running, supervised. Real apps (bash, a real core dump); the watch's
// loading is held back by the test until the app has done its part, so each case is the
// early one for sure. Signals reach the watchdog through its registered handlers, as the
// entry's process.on does (test/e2e/launch.test.ts sends real ones).
import t, { type Test } from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { parseConfig } from '../../src/config/parse.ts';
import { createEventLog } from '../../src/util/event-log.ts';
import { runWatchdog, type WatchdogDeps } from '../../src/watchdog/watchdog.ts';
import type { AppProcess } from '../../src/watchdog/supervise.ts';
import { tempDir } from '../support/temp.ts';

interface Run {
  /** The app's HOME and working folder. */
  home: string;
  /** The app's output and our log lines, in the order they were written. */
  text(): string;
  app: Promise<AppProcess>;
  status: Promise<number>;
  signal(signal: NodeJS.Signals): void;
  /** Lets the watch load (held back until then). */
  release(): void;
  /** Resolves once the output holds the pattern; rejects after the deadline. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

async function runHeld(t: Test, script: string, options: { env?: Record<string, string>; loadWatch?: WatchdogDeps['loadWatch'] } = {}): Promise<Run> {
  const home = await tempDir('pm-early-');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TMPDIR: home, CF_INSTANCE_INDEX: '0',
    POSTMORTEM_STORE: `file://${home}/store`, POSTMORTEM_GRACE: '0s', POSTMORTEM_MAX_DUMPS: '0', ...options.env,
  };
  let text = '';
  const out = new PassThrough();
  out.on('data', (chunk: Buffer) => { text += chunk.toString(); });
  const log = createEventLog((line) => { text += line; });
  const handlers = new Map<NodeJS.Signals, Set<() => void>>();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  let started!: (app: AppProcess) => void;
  const app = new Promise<AppProcess>((resolve) => { started = resolve; });
  const status = runWatchdog({
    command: ['bash', '-c', script], env, config: parseConfig(env).config, log, stdout: out, stderr: out,
    openStore: async () => (await import('../../src/store/open-store.ts')).openStore(parseConfig(env).config.store, { partSize: 8 * 1024 * 1024, queueSize: 2, maxAttempts: 1, log }),
    now: () => new Date(), buildpackVersion: 'test',
    onSignal: (signal, handler) => {
      const set = handlers.get(signal) ?? new Set();
      handlers.set(signal, set.add(handler));
      return () => set.delete(handler);
    },
    onAppStarted: started,
    loadWatch: options.loadWatch ?? (async () => { await gate; return import('../../src/watchdog/after-spawn.ts'); }),
  });
  // Whatever a failed assertion left: the app is killed, the watch let go.
  t.teardown(async () => {
    release();
    const running = await app;
    if (running.alive) running.signal('SIGKILL');
    await status.catch(() => undefined);
  });
  return {
    home, text: () => text, app, status, release,
    signal: (signal) => { for (const handler of handlers.get(signal) ?? []) handler(); },
    waitFor: (pattern, timeoutMs = 20_000) => new Promise((resolve, reject) => {
      const since = Date.now();
      const poll = setInterval(() => {
        if (pattern.test(text)) { clearInterval(poll); resolve(); } else if (Date.now() - since > timeoutMs) { clearInterval(poll); reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${text}`)); }
      }, 10);
    }),
  };
}

t.test('a SIGTERM before the watch is ready reaches the app at once; the death is a stop', async (t) => {
  const run = await runHeld(t, "trap 'echo got TERM; exit 7' TERM; echo started; while :; do sleep 0.02; done");
  await run.waitFor(/started/);
  run.signal('SIGTERM');
  const app = await run.app;
  const ended = await app.exited; // the watch is still held back here
  t.same(ended, { exitCode: 7 }, 'the app got SIGTERM and exited with its own status while the watch was not loaded');
  t.match(run.text(), /started\n[^]*got TERM/, 'its output passed through, in order');
  run.release();
  t.equal(await run.status, 7, 'the watchdog exits with the app\'s status');
  t.match(run.text(), /app stopped on request, exited with status 7/, 'the watch learnt of the early stop');
  t.notMatch(run.text(), /holding this container/, 'no hold after a stop');
});

t.test('a crash before the watch is ready: its core, already on disk, is stored', async (t) => {
  // A real core: the app's shell kills itself with SIGSEGV in its working folder (core_pattern
  // "core"). The watch loads only once the app is gone and the core is complete.
  const run = await runHeld(t, 'cd "$HOME" && echo crashing && kill -SEGV $$', { env: { POSTMORTEM_JAVA: 'false' } });
  const app = await run.app;
  const ended = await app.exited;
  t.same(ended, { signal: 'SIGSEGV' }, 'the app crashed before the watch was loaded');
  run.release();
  t.equal(await run.status, 139, '128 + SIGSEGV');
  const text = run.text();
  t.match(text, /cores will be captured: core_pattern "core"/, 'this machine dumps cores where the test expects them');
  t.match(text, /crashing/, 'the app\'s last words passed through');
  const reportFile = /crash report -> (\/\S+)/.exec(text)?.[1];
  t.ok(reportFile, 'a report is stored', { output: text });
  const report = JSON.parse(await readFile(reportFile!, 'utf8')) as { reason: string; artifacts: { name: string }[] };
  t.equal(report.reason, 'signal');
  t.ok(report.artifacts.some((a) => a.name === 'core.gz' || a.name === 'core'), `the core is stored (artifacts: ${report.artifacts.map((a) => a.name).join(', ')})`);
  t.ok(report.artifacts.some((a) => /log-tail/.test(a.name)), 'with the log tail of what it printed before the watch was ready');
});

t.test('evidence written before the watch is ready while the app runs on: found when the watch starts, not at the exit', async (t) => {
  // A child of the app crashes (a real core in the app's folder) and the app keeps running.
  const run = await runHeld(t, 'cd "$HOME" && bash -c \'kill -SEGV $$\'; echo child crashed; while [ ! -e go ]; do sleep 0.02; done; exit 3', { env: { POSTMORTEM_JAVA: 'false' } });
  await run.waitFor(/child crashed/);
  const app = await run.app;
  run.release();
  await run.waitFor(/core file appeared: \S+\/core;/);
  t.ok(app.alive, 'the core was found while the app still ran (no watcher event could have reported it)');
  await writeFile(path.join(run.home, 'go'), '');
  t.equal(await run.status, 3, 'the app\'s own status');
  const reportFile = /crash report -> (\/\S+)/.exec(run.text())?.[1];
  t.ok(reportFile, 'a report is stored', { output: run.text() });
  const report = JSON.parse(await readFile(reportFile!, 'utf8')) as { artifacts: { name: string }[] };
  t.ok(report.artifacts.some((a) => a.name === 'core.gz'), `the core is stored (artifacts: ${report.artifacts.map((a) => a.name).join(', ')})`);
});

t.test('the watch cannot be loaded after the spawn: the app runs on, its output and stops pass through', async (t) => {
  const run = await runHeld(t, "trap 'echo got TERM; exit 5' TERM; echo started; while [ ! -e \"$HOME/go\" ]; do sleep 0.02; done; echo still running; while :; do sleep 0.02; done", {
    loadWatch: async () => { throw new Error('Cannot find module after-spawn-XXXX.mjs'); },
  });
  await run.waitFor(/crash capture is off, the app runs on supervised only: the watch could not be loaded after the app started \(Cannot find module/);
  const app = await run.app;
  t.ok(app.alive, 'the app was not stopped by the failure');
  // The app goes on: it sees the file, writes again; then a stop reaches it.
  await writeFile(path.join(run.home, 'go'), '');
  await run.waitFor(/still running/);
  run.signal('SIGTERM');
  t.equal(await run.status, 5, 'the app\'s own status after the stop');
  t.match(run.text(), /got TERM/, 'the SIGTERM was forwarded');
});
