// The watchdog's second step, loaded once the app runs (watchdog.ts): the evidence watch,
// the memory watch, the crash slot, and after the death the aftermath, the hold and the
// exit status. Nothing here is needed for the app to start.
import type { MemoryAtStart } from '../capture/container-memory.ts';
import { mkdir, writeFile } from 'node:fs/promises';
import { aftermath, type AftermathInput } from '../capture/aftermath.ts';
import { redactedEnvironment } from '../capture/environment.ts';
import { appPidFile } from '../capture/app-pid.ts';
import { CrashSlot } from '../capture/crash.ts';
import type { FolderSnapshot } from '../capture/evidence-folders.ts';
import type { ObservedState } from '../capture/observed.ts';
import type { Prepared } from '../capture/prepare.ts';
import { takeThreadDumps } from '../capture/thread-dump.ts';
import type { Env } from '../config/types.ts';
import type { Store } from '../store/store.ts';
import type { EventLog } from '../util/event-log.ts';
import { whenAborted } from '../util/deadline.ts';
import { classifyDeath } from './death.ts';
import { holdContainer, type Hold } from './hold.ts';
import { observe, type Observation } from './observe.ts';
import type { OutputBacklog } from './output-backlog.ts';
import { startMemoryWatch } from './pressure-watch.ts';
import type { StopController } from './stop.ts';
import type { AppProcess } from './supervise.ts';
import type { WatchdogDeps } from './watchdog.ts';

/** What the first step's stop handlers reach through: filled in here as it comes to be. */
export interface WatchHooks {
  /** The grace period's hold, once it began (a stop ends it). */
  hold?: Hold;
  /** Thread dumps of the app's JVMs (a stop with POSTMORTEM_THREAD_DUMP_ON_STOP). */
  threadDumps?: () => Promise<void>;
  /** Called once the watch is ready (or will never be). */
  ready: () => void;
}

export interface RunningApp {
  deps: WatchdogDeps;
  startedAt: Date;
  appDir: string;
  running: AppProcess;
  prepared: Prepared;
  /** What the evidence folders held before the spawn. */
  before: FolderSnapshot;
  /** The memory cgroup's counters before the spawn. */
  memoryAtStart?: MemoryAtStart | undefined;
  childEnv: Env;
  observed: ObservedState;
  /** The app's output since the spawn, handed to the watch once it is ready. */
  backlog: OutputBacklog;
  stop: StopController;
}

/** Closing watchers and the store may not hold the exit back longer than this. */
const CLEANUP_MS = 500;

/** Watches the running app to its end; returns the watchdog's exit status. */
export async function watchRunningApp(input: RunningApp, hooks: WatchHooks): Promise<number> {
  const { deps, running, observed, stop } = input;
  const { config, log, now } = deps;
  const clock = () => now().getTime();
  let store: Promise<Store> | undefined;
  const lazyStore = () => (store ??= deps.openStore());
  const crashes = new CrashSlot({
    config, store: lazyStore, log, now, buildpackVersion: deps.buildpackVersion, startedAt: input.startedAt,
    environment: redactedEnvironment(input.childEnv, config.reportEnv), javaMajors: input.prepared.javaMajors,
  });
  let watching: Observation;
  try {
    watching = await observe({ config, log, folders: input.prepared.folders, before: input.before, memoryAtStart: input.memoryAtStart, crashes, appAlive: () => running.alive, observed });
  } finally {
    hooks.ready();
  }
  hooks.threadDumps = () => threadDumpsOf(running, watching, log);
  const unseen = input.backlog.deliverTo(watching.onOutput);
  if (unseen > 0) log.warn(`${unseen} bytes of the app's first output came before the crash watch was ready and were passed through unread (the log tail and the JVM's messages in them are not seen)`);
  watching.follow(running.pid);
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
    await afterDeath({ config, log, now: clock, appDir: input.appDir, env: input.childEnv, observed, death, crashes, logTail: watching.tail.snapshot(), stop, holdMs: stop.requested ? 0 : config.graceMs }, (held) => { hooks.hold = held; }, () => stop.requested);
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
