// The watchdog: supervises the app, streams evidence (heap dumps, fatal error logs, cores)
// to the store while it is being written, and after a death runs the aftermath (report,
// log tail, hooks), holds the container for the grace period and exits with the app's own
// status. A thin conductor: what it learns goes into one ObservedState, stops are the stop
// controller's (stop.ts), everything after the death is capture's aftermath. Capture
// problems are logged and never change what happens to the app.
//
// Start-up in two steps, so that the app starts as early as it can: here only what the app's
// start needs (its JVM flags, core limit and environment: prepare.ts), then the spawn, the
// stop handlers and the output relay; everything else (the evidence watch, the memory watch,
// the crash slot, the aftermath: after-spawn.ts) is loaded once the app runs. What happens
// in between is kept: the folders' contents are taken before the spawn, the app's output is
// relayed at once and kept for the watch (output-backlog.ts), a stop is forwarded. If that
// second step cannot be loaded, the app runs on supervised only.
import type { Config, Env } from '../config/types.ts';
import { memoryAtStart } from '../capture/container-memory.ts';
import { snapshotFolders } from '../capture/evidence-folders.ts';
import { ObservedState } from '../capture/observed.ts';
import { prepareCapture } from '../capture/prepare.ts';
import type { Store } from '../store/store.ts';
import type { EventLog } from '../util/event-log.ts';
import type { WatchHooks } from './after-spawn.ts';
import { appEnvironment } from './app-env.ts';
import { exitStatusOf } from './death.ts';
import { OutputBacklog } from './output-backlog.ts';
import type { OutputPipe } from './output-pipes.ts';
import { controlStops } from './stop.ts';
import { startApp, type AppProcess } from './supervise.ts';

export interface WatchdogDeps {
  command: string[];
  env: Env;
  config: Config;
  log: EventLog;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Pipes for the app's output (output-pipes.ts). */
  pipes?: [OutputPipe, OutputPipe];
  openStore: () => Promise<Store>;
  now: () => Date;
  buildpackVersion: string;
  /** Registers a handler for a signal sent to the watchdog; returns a remover. */
  onSignal: (signal: NodeJS.Signals, handler: () => void) => () => void;
  /** Called once the app is started (for the last-gasp cleanup in the entry). */
  onAppStarted?: (app: AppProcess) => void;
  /** Ends the process with this status at once: the stop deadline has come. */
  exit?: (status: number) => void;
  /** /proc/sys/kernel reader (tests state a core_pattern). */
  readKernel?: (name: 'core_pattern' | 'core_uses_pid') => Promise<string | undefined>;
  /** Loads the watch that starts after the spawn; tests make it fail. Default: after-spawn.ts. */
  loadWatch?: () => Promise<typeof import('./after-spawn.ts')>;
}

/** The longest the watch waits for the app's first output before it loads anyway. */
export const WATCH_AFTER_MS = 100;

export async function runWatchdog(deps: WatchdogDeps): Promise<number> {
  const { config, log, now } = deps;
  const startedAt = now();
  const appDir = deps.env.HOME ?? process.cwd();
  let app: AppProcess | undefined;
  const prepared = await prepareCapture({ config, env: deps.env, command: deps.command, appDir, log, appPid: () => app?.pid, ...(deps.readKernel ? { readKernel: deps.readKernel } : {}) });
  const before = snapshotFolders(prepared.folders);
  // The OOM-kill counter before the app runs: a kill by the limit in its first moments, before
  // the watch loads, is still told apart from any other SIGKILL. Synchronous reads, microseconds.
  const memoryCounters = await memoryAtStart();
  const childEnv = { ...appEnvironment(deps.env), ...prepared.env };
  const observed = new ObservedState();
  const backlog = new OutputBacklog();

  let passedOn!: () => void;
  const firstOutputPassedOn = new Promise<void>((resolve) => { passedOn = resolve; });
  const running = startApp({ command: prepared.command, env: childEnv, stdout: deps.stdout, stderr: deps.stderr, onOutput: backlog.onOutput, onPassedOn: () => passedOn(), ...(deps.pipes ? { pipes: deps.pipes } : {}) });
  app = running;
  deps.onAppStarted?.(running);
  // Handlers before the first await: from the moment the app runs, a stop must find them.
  let watchReady!: () => void;
  const watching = new Promise<void>((resolve) => { watchReady = resolve; });
  const hooks: WatchHooks = { ready: () => watchReady() };
  const stop = controlStops({
    app: running,
    deadlineMs: config.stopDeadlineMs,
    log,
    onSignal: deps.onSignal,
    // Thread dumps need the watch: a stop in its first moments waits for it (bounded by stop.ts).
    ...(config.threadDumpOnStop ? { beforeForwarding: async () => { await watching; await hooks.threadDumps?.(); } } : {}),
    onStop: () => { observed.stopRequested = true; hooks.hold?.end(); },
    onDeadline: () => deps.exit?.(running.alive ? exitStatusOf(undefined, 'SIGKILL') : exitStatusOf(observed.exitCode, observed.signal)),
  });

  // Loading the watch takes the thread for a while (compiling, starting watchers): the app's
  // first output is passed on before that, or the watch loads when the app has been quiet
  // for WATCH_AFTER_MS. Nothing is lost meanwhile (see the top of this file).
  await Promise.race([firstOutputPassedOn, running.exited, new Promise((resolve) => setTimeout(resolve, WATCH_AFTER_MS).unref())]);
  let loaded: typeof import('./after-spawn.ts');
  try {
    loaded = await (deps.loadWatch ?? (() => import('./after-spawn.ts')))();
  } catch (error) {
    watchReady();
    // The app runs and keeps running: its output is relayed and stops are forwarded as
    // before; only the capture is off. Never a reason to stop or orphan it.
    backlog.discard();
    log.error(`crash capture is off, the app runs on supervised only: the watch could not be loaded after the app started (${error instanceof Error ? error.message : String(error)})`);
    const ended = await running.exited;
    observed.ended(ended, now());
    stop.dispose();
    return exitStatusOf(ended.exitCode, ended.signal);
  }
  return loaded.watchRunningApp({ deps, startedAt, appDir, running, prepared, before, memoryAtStart: memoryCounters, childEnv, observed, backlog, stop }, hooks);
}
