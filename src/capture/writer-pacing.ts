// Keeps a plain heap dump from taking more disk than POSTMORTEM_DUMP_DISK_LIMIT while it is
// written. The JVM writes its dump faster than two cores compress it (~400 MB/s against
// ~150 MB/s), so without pacing nearly the whole plain dump sits on the container's disk before
// the reader has punched it out (bench: 1.0 GiB of a 1.32 GiB dump). The JVM is stopped at a
// safepoint while it dumps, so pausing it (SIGSTOP) while the dump is that far ahead of the
// upload, and letting it go on (SIGCONT) once the upload has caught up, changes nothing it
// does; it only waits for us, as it would for a slower disk. The crash takes no longer: the
// upload is the slower side either way, and a paused writer leaves it the CPU.
//
// Bounded so it can never hold the app up: pauses add up to at most MAX_PAUSED_MS per dump,
// a pause ends when the reader hands on nothing for STALL_MS (a slow or hung store), and
// every pause ends when the dump is done, its stream closes, the app is signalled or the
// watchdog exits (src/util/paused-writers.ts). Only the process that has the dump open is
// ever paused, found through /proc.
import { readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { formatBytes } from '../config/units.ts';
import type { EventLog } from '../util/event-log.ts';
import { isPaused, mayPause, notePaused, noteResumed } from '../util/paused-writers.ts';

/** Pauses of one dump's writer add up to at most this; then it writes on unpaced. */
export const MAX_PAUSED_MS = 30_000;
/** A pause ends when the reader has reported nothing for this long. */
export const STALL_MS = 3_000;
/**
 * The hold at the start (holdUntilFollowing) lasts until the upload reads or this long, then
 * the limit paces as usual. Not the stall rule: on a busy machine the upload's first start took
 * over 3 s in CI, and giving up there left the dump unpaced (433 MiB of a 449 MiB dump on disk).
 */
export const HOLD_MS = 2_000;

/**
 * The JVM process writing `file` (java_pid<N>.hprof, and N has it open), or undefined.
 * Synchronous, once per dump (a JVM has some dozens of descriptors, ~1 ms): a JVM writes a
 * dump of plain arrays at over 1 GB/s into the page cache, so pacing that starts a few
 * thread-pool trips later finds the dump already written.
 */
export function findDumpWriter(file: string): number | undefined {
  const pid = Number(/^java_pid(\d+)\.hprof$/.exec(path.basename(file))?.[1]);
  if (!Number.isSafeInteger(pid) || pid <= 1 || pid === process.pid) return undefined;
  const attempt = <T>(read: () => T, fallback: T): T => { try { return read(); } catch { return fallback; } };
  const target = attempt(() => realpathSync(file), file);
  for (const fd of attempt(() => readdirSync(`/proc/${pid}/fd`), [] as string[])) {
    if (attempt(() => readlinkSync(`/proc/${pid}/fd/${fd}`), '') === target) return pid;
  }
  return undefined;
}

export interface WriterPacingOptions {
  pid: number;
  file: string;
  /** Pause the writer once the dump takes this much disk. */
  limitBytes: number;
  /** Let it go on once the dump is down to this (default half the limit). */
  resumeBytes?: number;
  /** Bytes the reader has handed on so far: a pause lasts only while this moves. */
  progress: () => number;
  /**
   * Pause the writer from the start until the upload has started reading (`uploadReading`),
   * then pace as usual. The upload's first start loads the S3 client on the main thread, and no
   * sample runs meanwhile: a JVM writing plain arrays into the page cache had its whole 449 MiB
   * dump down in 0.24 s of that, before the first pause.
   */
  holdUntilFollowing?: boolean;
  /**
   * The upload has started reading the dump: its first read returned, even with nothing in it
   * (default: `progress()` moved). Not bytes handed on: a writer stopped before its first
   * write leaves nothing to hand on, and the hold then lasted its whole bound (2 s idle in
   * about one crash in three, bench/README.md).
   */
  uploadReading?: () => boolean;
  /** The hold's bound (default HOLD_MS). */
  holdMs?: number;
  maxPausedMs?: number;
  stallMs?: number;
  log: EventLog;
  now?: () => number;
}

export interface PacingSummary {
  pauses: number;
  pausedMs: number;
  /** Why pacing stopped before the dump was done, if it did. */
  gaveUp?: string;
}

/** How often the dump's disk is looked at while it is written (a stat, some microseconds). */
export const SAMPLE_MS = 20;

export class WriterPacing {
  readonly #o: Required<Omit<WriterPacingOptions, 'log' | 'now' | 'progress' | 'holdUntilFollowing' | 'uploadReading'>> & Pick<WriterPacingOptions, 'log' | 'progress' | 'holdUntilFollowing'>;
  readonly #uploadReading: () => boolean;
  readonly #now: () => number;
  #pausedSince: number | undefined;
  #pausedMs = 0;
  #pauses = 0;
  #over = false;
  #gaveUp: string | undefined;
  #lastProgress = 0;
  #lastProgressAt = 0;
  #sampler: NodeJS.Timeout | undefined;
  /** While paused at the start (holdUntilFollowing), not for the limit: when that hold ends at the latest. */
  #holdEnds: number | undefined;
  #saidAhead = false;

  constructor(options: WriterPacingOptions) {
    this.#o = {
      pid: options.pid,
      file: options.file,
      limitBytes: options.limitBytes,
      resumeBytes: options.resumeBytes ?? Math.floor(options.limitBytes / 2),
      maxPausedMs: options.maxPausedMs ?? MAX_PAUSED_MS,
      stallMs: options.stallMs ?? STALL_MS,
      log: options.log,
      progress: options.progress,
      holdUntilFollowing: options.holdUntilFollowing,
      holdMs: options.holdMs ?? HOLD_MS,
    };
    this.#now = options.now ?? Date.now;
    this.#uploadReading = options.uploadReading ?? (() => options.progress() > 0);
  }

  /**
   * Looks at the dump's allocated blocks every SAMPLE_MS until end(). Not on the reader's
   * reads: while the upload starts (the S3 client loads on the first crash) the reader waits,
   * and a JVM writing into the page cache can put hundreds of MiB down in that time.
   */
  watch(): this {
    const look = (): void => {
      let allocated: number;
      try {
        allocated = statSync(this.#o.file).blocks * 512;
      } catch {
        this.end(); // the file is gone: nothing left to pace
        return;
      }
      this.onDisk(allocated);
    };
    if (this.#o.holdUntilFollowing && !this.#uploadReading()) this.#hold();
    look();
    if (this.#over) return this;
    this.#sampler = setInterval(look, SAMPLE_MS);
    this.#sampler.unref(); // never keeps the watchdog up
    return this;
  }

  get paused(): boolean {
    return this.#pausedSince !== undefined;
  }

  get summary(): PacingSummary {
    const running = this.#pausedSince === undefined ? 0 : this.#now() - this.#pausedSince;
    return { pauses: this.#pauses, pausedMs: this.#pausedMs + running, ...(this.#gaveUp ? { gaveUp: this.#gaveUp } : {}) };
  }

  /** What the dump takes on disk now (its allocated blocks). */
  onDisk(allocatedBytes: number): void {
    if (this.#over) return;
    const now = this.#now();
    if (this.#pausedSince !== undefined && !isPaused(this.#o.pid)) {
      // Let go from outside (a signal to the app, a stop): it counts as a resume.
      this.#pausedMs += now - this.#pausedSince;
      this.#pausedSince = undefined;
      this.#holdEnds = undefined;
      if (!mayPause()) return this.#giveUp('the app is being stopped');
    }
    if (this.#pausedSince === undefined) {
      if (allocatedBytes >= this.#o.limitBytes) this.#pause(allocatedBytes, now);
      return;
    }
    if (this.#holdEnds !== undefined) {
      if (!this.#uploadReading() && now < this.#holdEnds) return; // the upload has not started yet
      // It has (or the hold's time is up): from here the limit decides, and a pause it makes
      // ends as any other (the stall rule counts from now).
      this.#holdEnds = undefined;
      if (allocatedBytes < this.#o.limitBytes) return this.#resume();
      this.#sayAhead(allocatedBytes);
      this.#lastProgress = this.#o.progress();
      this.#lastProgressAt = now;
    }
    if (allocatedBytes <= this.#o.resumeBytes) return this.#resume();
    const progress = this.#o.progress();
    if (progress !== this.#lastProgress) {
      this.#lastProgress = progress;
      this.#lastProgressAt = now;
    } else if (now - this.#lastProgressAt >= this.#o.stallMs) {
      return this.#giveUp(`the upload made no progress for ${this.#o.stallMs / 1000} s`);
    }
    if (this.#pausedMs + (now - this.#pausedSince) >= this.#o.maxPausedMs) this.#giveUp(budgetSpent(this.#o.maxPausedMs));
  }

  /** The dump is done or its stream closed: the writer goes on, and is never paused again. */
  end(): void {
    this.#over = true;
    clearInterval(this.#sampler);
    this.#resume();
  }

  #pause(allocatedBytes: number, now: number): void {
    if (!this.#stop(now)) return;
    this.#sayAhead(allocatedBytes);
  }

  /** Paused at the start until the upload reads (holdUntilFollowing). */
  #hold(): void {
    const now = this.#now();
    if (!this.#stop(now)) return;
    this.#holdEnds = now + this.#o.holdMs;
    this.#o.log.info(`${this.#o.file}: its writer (pid ${this.#o.pid}) waits for the upload to start (${this.#o.holdMs / 1000} s at most), then no more than ${formatBytes(this.#o.limitBytes)} ahead of it (POSTMORTEM_DUMP_DISK_LIMIT)`);
  }

  /** SIGSTOPs the writer; false (and pacing over) when it may not or cannot be paused. */
  #stop(now: number): boolean {
    if (this.#pausedMs >= this.#o.maxPausedMs) { this.#giveUp(budgetSpent(this.#o.maxPausedMs)); return false; }
    if (!mayPause()) { this.#giveUp('the app is being stopped'); return false; }
    try {
      process.kill(this.#o.pid, 'SIGSTOP');
    } catch (error) {
      this.#giveUp(`pid ${this.#o.pid} cannot be paused: ${(error as { code?: string }).code ?? String(error)}`);
      return false;
    }
    notePaused(this.#o.pid);
    this.#pausedSince = now;
    this.#lastProgress = this.#o.progress();
    this.#lastProgressAt = now;
    this.#pauses += 1;
    return true;
  }

  #sayAhead(allocatedBytes: number): void {
    if (this.#saidAhead) return;
    this.#saidAhead = true;
    this.#o.log.info(`${this.#o.file} is ${formatBytes(allocatedBytes)} ahead of the upload: its writer (pid ${this.#o.pid}) waits while the upload catches up, so the dump takes about ${formatBytes(this.#o.limitBytes)} of disk at most (POSTMORTEM_DUMP_DISK_LIMIT)`);
  }

  #resume(): void {
    if (this.#pausedSince === undefined) return;
    try {
      process.kill(this.#o.pid, 'SIGCONT');
    } catch {
      // gone: nothing to let go
    }
    noteResumed(this.#o.pid);
    this.#pausedMs += this.#now() - this.#pausedSince;
    this.#pausedSince = undefined;
    this.#holdEnds = undefined;
  }

  #giveUp(why: string): void {
    if (this.#over) return;
    this.end();
    this.#gaveUp = why;
    this.#o.log.warn(`${this.#o.file}: its writer (pid ${this.#o.pid}) is no longer paused for the upload (${why}); the rest of the dump may take more disk`);
  }
}

function budgetSpent(maxPausedMs: number): string {
  return `its pauses reached ${maxPausedMs / 1000} s, the most a dump is held up`;
}
