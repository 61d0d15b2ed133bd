// The stop controller: from the first SIGTERM (or SIGINT) the container's top process is
// gone within POSTMORTEM_STOP_DEADLINE (<= Diego's 10 s), whatever the app, the store or a
// hook do. It forwards signals to the app's process group (after optional thread dumps),
// SIGKILLs the group when it outstays its time, aborts our uploads and work in time for
// the report, and at the deadline itself ends the process.
//
//   SIGTERM ── thread dumps (bounded) ── SIGTERM to the app's group
//           ── deadline - KILL_APP_MS:    SIGKILL to the app's group
//           ── deadline - ABANDON_MS:     uploads aborted (signal `uploads`)
//           ── deadline - END_WORK_MS:    report, hooks, everything aborted (signal `all`)
//           ── deadline:                  exit, no matter what is still running
import type { EventLog } from '../util/event-log.ts';
import type { AppProcess } from './supervise.ts';
import { releasePausedWriters } from '../util/paused-writers.ts';

export const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];
const STOP_SIGNALS = new Set<NodeJS.Signals>(['SIGTERM', 'SIGINT']);
/** Before the deadline: the app's last moment, then ours for the stored report, then exit. */
export const KILL_APP_MS = 2000;
export const ABANDON_MS = 1200;
export const END_WORK_MS = 500;
/** Thread dumps may hold the SIGTERM back this long at most. */
const BEFORE_FORWARDING_MS = 2000;

export interface StopDeps {
  app: AppProcess;
  deadlineMs: number;
  log: EventLog;
  onSignal: (signal: NodeJS.Signals, handler: () => void) => () => void;
  /** Runs before the first SIGTERM reaches the app (thread dumps); bounded by us. */
  beforeForwarding?: () => Promise<void>;
  /** The first stop request (the observed state, the hold) learns of it here. */
  onStop: () => void;
  /** Called at the deadline: the process must end now. */
  onDeadline: () => void;
}

export interface StopController {
  readonly requested: boolean;
  /** Aborts when uploads must be given up (a stop's deadline nears). */
  readonly uploads: AbortSignal;
  /** Aborts when all our work must end (just before a stop's deadline). */
  readonly all: AbortSignal;
  /** Once a stop is requested: milliseconds until `uploads` aborts (for the progress lines). */
  uploadsLeft(): number | undefined;
  /** Removes the signal handlers and timers (the watchdog is done). */
  dispose(): void;
}

export function controlStops(deps: StopDeps): StopController {
  const { app, log, deadlineMs } = deps;
  const uploads = new AbortController();
  const all = new AbortController();
  const timers: NodeJS.Timeout[] = [];
  let requested = false;
  let uploadsAbortAt: number | undefined;
  const at = (ms: number, fn: () => void) => timers.push(setTimeout(fn, Math.max(0, ms)));
  const seconds = `${(deadlineMs / 1000).toFixed(1)} s`;

  function firstStop(signal: NodeJS.Signals): void {
    requested = true;
    // A dump writer paused for the upload (writer-pacing.ts) runs again, and stays running:
    // the thread dump before forwarding and the app's own shutdown need it.
    releasePausedWriters();
    deps.onStop();
    at(deadlineMs - KILL_APP_MS, () => {
      if (!app.alive) return;
      log.warn(`the app did not stop within ${((deadlineMs - KILL_APP_MS) / 1000).toFixed(1)} s of ${signal}; SIGKILL to its processes, to be gone within POSTMORTEM_STOP_DEADLINE (${seconds})`);
      app.signal('SIGKILL');
    });
    uploadsAbortAt = Date.now() + deadlineMs - ABANDON_MS;
    at(deadlineMs - ABANDON_MS, () => uploads.abort(new Error(`stopping: POSTMORTEM_STOP_DEADLINE (${seconds}) nearly reached`)));
    at(deadlineMs - END_WORK_MS, () => all.abort(new Error(`stopping: POSTMORTEM_STOP_DEADLINE (${seconds}) reached`)));
    at(deadlineMs, () => {
      log.warn(`POSTMORTEM_STOP_DEADLINE (${seconds}) reached; exiting now`);
      deps.onDeadline();
    });
    if (signal === 'SIGTERM' && deps.beforeForwarding && app.alive) {
      const bound = new Promise<void>((resolve) => setTimeout(resolve, BEFORE_FORWARDING_MS).unref());
      void Promise.race([deps.beforeForwarding().catch(() => undefined), bound]).then(() => { if (app.alive) app.signal(signal); });
      return;
    }
    if (app.alive) app.signal(signal);
  }

  const removers = FORWARDED.map((signal) => deps.onSignal(signal, () => {
    if (STOP_SIGNALS.has(signal) && !requested) firstStop(signal);
    else if (app.alive) app.signal(signal);
  }));

  return {
    get requested() { return requested; },
    uploads: uploads.signal,
    all: all.signal,
    uploadsLeft: () => (uploadsAbortAt === undefined ? undefined : Math.max(0, uploadsAbortAt - Date.now())),
    dispose() {
      for (const remove of removers) remove();
      for (const timer of timers) clearTimeout(timer);
    },
  };
}
