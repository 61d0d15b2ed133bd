// A deadline as one point in time and one AbortSignal: every step after a death or a stop
// takes the signal (or a sub-deadline ending earlier), so nothing can outlive the promise.
// The clock is injected; the timer is real and unref'd (it never keeps the process alive).

export interface Deadline {
  /** Milliseconds on the injected clock at which the signal aborts. */
  readonly at: number;
  /** Aborts at `at`, or as soon as any parent signal aborts (with the parent's reason). */
  readonly signal: AbortSignal;
  /** Milliseconds left, never negative. */
  left(): number;
  /** A deadline `ms` earlier than this one (a reserve for the steps that come after). */
  before(ms: number, why: string, parents?: AbortSignal[]): Deadline;
}

export type Clock = () => number;

export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

export function deadlineAt(at: number, why: string, now: Clock = Date.now, parents: AbortSignal[] = []): Deadline {
  const controller = new AbortController();
  const abort = (reason: unknown) => { if (!controller.signal.aborted) controller.abort(reason); };
  const timer = setTimeout(() => abort(new DeadlineError(why)), Math.max(0, at - now()));
  timer.unref();
  controller.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  for (const parent of parents) {
    if (parent.aborted) abort(parent.reason);
    else parent.addEventListener('abort', () => abort(parent.reason), { once: true });
  }
  const deadline: Deadline = {
    at,
    signal: controller.signal,
    left: () => Math.max(0, at - now()),
    before: (ms, reason, more = []) => deadlineAt(at - ms, reason, now, [controller.signal, ...more]),
  };
  return deadline;
}

export function deadlineIn(ms: number, why: string, now: Clock = Date.now, parents: AbortSignal[] = []): Deadline {
  return deadlineAt(now() + ms, why, now, parents);
}

/** Resolves when the signal aborts (never rejects); for racing work against a deadline. */
export function whenAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

export function reasonOf(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : String(reason ?? 'aborted');
}
