// The watchdog: supervises the app, streams evidence (heap dumps, fatal error logs, cores)
// to the store while it is being written, and after a death runs the aftermath (report,
// log tail, hooks), holds the container for the grace period and exits with the app's own
// status. A thin conductor: what it learns goes into one ObservedState, stops are the stop
// controller's (stop.ts), everything after the death is capture's aftermath. Capture
// problems are logged and never change what happens to the app.
import { mkdir, writeFile } from 'node:fs/promises';
import type { Config, Env } from '../config/types.ts';
import { aftermath, type AftermathInput } from '../capture/aftermath.ts';
import { redactedEnvironment } from '../capture/environment.ts';
import { appPidFile } from '../capture/app-pid.ts';
import { CrashSlot } from '../capture/crash.ts';
import { prepareCapture } from '../capture/prepare.ts';
import { takeThreadDumps } from '../capture/thread-dump.ts';
import type { Store } from '../store/store.ts';
import type { EventLog } from '../util/event-log.ts';
import { appEnvironment } from './app-env.ts';
import { classifyDeath, exitStatusOf } from './death.ts';
import { holdContainer, type Hold } from './hold.ts';
import { observe, type Observation } from './observe.ts';
import { startMemoryWatch } from './pressure-watch.ts';
import { controlStops } from './stop.ts';
import { whenAborted } from '../util/deadline.ts';
import { startApp, type AppProcess } from './supervise.ts';
import type { OutputPipe } from './output-pipes.ts';


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
}

/** Closing watchers and the store may not hold the exit back longer than this. */
const CLEANUP_MS = 500;

export async function runWatchdog(deps: WatchdogDeps): Promise<number> {
  const { config, log, now } = deps;
  const clock = () => now().getTime();
  const startedAt = now();
  const appDir = deps.env.HOME ?? process.cwd();
  let store: Promise<Store> | undefined;
  const lazyStore = () => (store ??= deps.openStore());
  let app: AppProcess | undefined;
  const prepared = await prepareCapture({ config, env: deps.env, command: deps.command, appDir, log, appPid: () => app?.pid, ...(deps.readKernel ? { readKernel: deps.readKernel } : {}) });
  const childEnv = { ...appEnvironment(deps.env), ...prepared.env };

  const crashes = new CrashSlot({
    config, store: lazyStore, log, now, buildpackVersion: deps.buildpackVersion, startedAt,
    environment: redactedEnvironment(childEnv, config.reportEnv), javaMajors: prepared.javaMajors,
  });
  const watching = await observe({ config, log, folders: prepared.folders, crashes, appAlive: () => app?.alive ?? false });
  const { observed } = watching;
  const running = startApp({ command: prepared.command, env: childEnv, stdout: deps.stdout, stderr: deps.stderr, onOutput: watching.onOutput, ...(deps.pipes ? { pipes: deps.pipes } : {}) });
  app = running;
  watching.follow(running.pid);
  deps.onAppStarted?.(running);
  let hold: Hold | undefined;
  // Handlers before the first await: from the moment the app runs, a stop must find them.
  const stop = controlStops({
    app: running,
    deadlineMs: config.stopDeadlineMs,
    log,
    onSignal: deps.onSignal,
    ...(config.threadDumpOnStop ? { beforeForwarding: () => threadDumpsOf(running, watching, log) } : {}),
    onStop: () => { observed.stopRequested = true; hold?.end(); },
    onDeadline: () => deps.exit?.(running.alive ? exitStatusOf(undefined, 'SIGKILL') : exitStatusOf(observed.exitCode, observed.signal)),
  });
  // `postmortem dump` in cf ssh finds the app through this file.
  await mkdir(config.dumpDir, { recursive: true }).then(() => writeFile(appPidFile(config), `${running.pid}\n`)).catch(() => undefined);
  // Memory pressure and GC spirals: evidence from the live app, in crash folders of their own.
  const pressure = await startMemoryWatch({ config, log, appPid: running.pid, memory: watching.memory, newCrash: (reason) => crashes.separate(reason), logTail: () => watching.tail.snapshot() });

  const ended = await running.exited;
  pressure.stop();
  await watching.appExited(ended, now());
  const death = classifyDeath(observed);
  log.info(`app ${death.summary}`);
  // Deadline timers are unref'd (they must never keep a process alive on their own): this
  // keeps the watchdog alive until the aftermath is over, whatever it waits for.
  const alive = setInterval(() => undefined, 60_000);
  try {
    await afterDeath({ config, log, now: clock, appDir, env: childEnv, observed, death, crashes, logTail: watching.tail.snapshot(), stop, holdMs: stop.requested ? 0 : config.graceMs }, (held) => { hold = held; }, () => stop.requested);
  } catch (error) {
    log.error(`capture failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    // A capture from before the death finishes its report, but never past a stop's deadline.
    await Promise.race([pressure.settled(), whenAborted(stop.all)]);
    const cleanup = Promise.allSettled([watching.close(), store?.then((s) => s.close())]);
    await Promise.race([cleanup, new Promise((resolve) => setTimeout(resolve, CLEANUP_MS).unref())]);
    stop.dispose();
    clearInterval(alive);
  }
  return death.exitStatus;
}

/** The aftermath (capture), then the hold (ended by a stop), then the hooks' end. */
async function afterDeath(input: AftermathInput, holding: (hold: Hold) => void, stopRequested: () => boolean): Promise<void> {
  const after = await aftermath(input);
  if (after && input.holdMs > 0 && !stopRequested()) {
    const hold = holdContainer(input.holdMs);
    holding(hold);
    const { app } = input.config;
    input.log.info(`holding this container for ${Math.round(input.holdMs / 1000)} s so you can look around: cf ssh ${app.name} -i ${app.instanceIndex} (a stop ends the hold)`);
    await hold.done;
  }
  await after?.hooks;
}

/** SIGQUIT to the app's JVMs; their printed thread dumps become part of what we observed. */
async function threadDumpsOf(app: AppProcess, watching: Observation, log: EventLog): Promise<void> {
  const capture = await takeThreadDumps(app.pid, watching.watchOutput);
  if (capture.jvms.length > 0) log.info(`stop requested: thread dump of JVM ${capture.jvms.join(', ')} before passing SIGTERM on`);
  watching.observed.threadDumps = capture.text.catch(() => '');
}
