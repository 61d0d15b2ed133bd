// Processes the watchdog has paused (SIGSTOP) to let the upload catch up with a dump they
// write (src/capture/writer-pacing.ts). Kept apart and tiny so that whatever signals the app
// or ends the watchdog can let them go first: a stopped JVM would not act on SIGTERM, and one
// left stopped would hang the container.
const paused = new Set<number>();
let mayPauseAgain = true;

/** False once the app is being stopped or the watchdog ends: nothing is paused after that. */
export function mayPause(): boolean {
  return mayPauseAgain;
}

/** Lets every paused writer go, for good: the app is being stopped, or the watchdog ends. */
export function releasePausedWriters(): void {
  mayPauseAgain = false;
  resumeAllPaused();
}

export function notePaused(pid: number): void {
  paused.add(pid);
}

export function noteResumed(pid: number): void {
  paused.delete(pid);
}

/** SIGCONT to every process still paused; safe to call at any time, from any exit path. */
export function resumeAllPaused(): void {
  for (const pid of paused) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
  paused.clear();
}

export function isPaused(pid: number): boolean {
  return paused.has(pid);
}

export function pausedCount(): number {
  return paused.size;
}
