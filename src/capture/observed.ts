// What the watchdog learns about the app while it runs and how it ended: one object, one
// writer per fact (the output scanner, the evidence watch, the stop controller, the exit).
// Capture reads it; the watchdog only fills it in.
import type { ContainerMemoryFacts } from './memory-death.ts';
import type { OomKind } from './oom-kind.ts';

export type DeathReason = 'oom' | 'container-oom' | 'fatal-error' | 'signal' | 'exit' | 'stop';

export interface Observed {
  exitCode?: number | undefined;
  signal?: string | undefined;
  /** The platform (or someone) asked us to stop: SIGTERM/SIGINT reached the watchdog. */
  stopRequested: boolean;
  /** A heap dump appeared, or the JVM printed java.lang.OutOfMemoryError. */
  outOfMemory: boolean;
  /** The JVM wrote an hs_err file / printed "A fatal error has been detected". */
  fatalError: boolean;
  /** The JVM's message after the first "OutOfMemoryError: " it printed ('' when it printed none). */
  oomMessage?: string | undefined;
  /** Read from the memory cgroup after a SIGKILL. */
  memory?: ContainerMemoryFacts | undefined;
  /** The JVM said "Dumping heap to" and never "Heap dump file created". */
  heapDumpUnfinished?: boolean | undefined;
}

export interface Death {
  reason: DeathReason;
  /** What the watchdog exits with: the app's own status, 128+n for a signal. */
  exitStatus: number;
  exitCode?: number;
  signal?: string;
  /** One line for people. */
  summary: string;
  /** Which memory ran out, when the JVM said so. */
  oom?: OomKind;
  /** The memory cgroup's account of a SIGKILL. */
  memory?: ContainerMemoryFacts;
}

/** The facts gathered while the app runs; `ended` is filled in when it exits. */
export class ObservedState implements Observed {
  exitCode?: number | undefined;
  signal?: string | undefined;
  stopRequested = false;
  outOfMemory = false;
  fatalError = false;
  oomMessage?: string | undefined;
  memory?: ContainerMemoryFacts | undefined;
  heapDumpUnfinished = false;
  /** Thread dumps printed on a stop request (JVMs only); '' when there were none. */
  threadDumps: Promise<string> = Promise.resolve('');
  /** When the app's exit was seen. */
  diedAt?: Date | undefined;

  ended(how: { exitCode?: number; signal?: string }, at: Date): void {
    this.exitCode = how.exitCode;
    this.signal = how.signal;
    this.diedAt = at;
  }
}
