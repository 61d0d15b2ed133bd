// How the app ended, as a pure function of what the watchdog observed.
import { constants } from 'node:os';

export type DeathReason = 'oom' | 'fatal-error' | 'signal' | 'exit' | 'stop';

export interface Observed {
  exitCode?: number | undefined;
  signal?: string | undefined;
  /** The platform (or someone) asked us to stop: SIGTERM/SIGINT reached the watchdog. */
  stopRequested: boolean;
  /** A heap dump appeared, or the JVM printed java.lang.OutOfMemoryError. */
  outOfMemory: boolean;
  /** The JVM wrote an hs_err file / printed "A fatal error has been detected". */
  fatalError: boolean;
}

export interface Death {
  reason: DeathReason;
  /** What the watchdog exits with: the app's own status, 128+n for a signal. */
  exitStatus: number;
  exitCode?: number;
  signal?: string;
  /** One line for people. */
  summary: string;
}

export function signalNumber(signal: string): number {
  return (constants.signals as Record<string, number>)[signal] ?? 0;
}

export function exitStatusOf(exitCode: number | undefined, signal: string | undefined): number {
  if (signal) return 128 + signalNumber(signal);
  return exitCode ?? 1;
}

export function classifyDeath(o: Observed): Death {
  const exitStatus = exitStatusOf(o.exitCode, o.signal);
  const how = o.signal ? `killed by ${o.signal}` : `exited with status ${o.exitCode ?? 'unknown'}`;
  const base = {
    exitStatus,
    ...(o.exitCode !== undefined && !o.signal ? { exitCode: o.exitCode } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  };
  // Evidence of the cause wins over how the process ended: a JVM that ran out of memory
  // exits 1 or is killed by a SIGTERM the platform sent after a failed health check.
  if (o.outOfMemory) return { ...base, reason: 'oom', summary: `ran out of Java heap and ${how}` };
  if (o.fatalError) return { ...base, reason: 'fatal-error', summary: `JVM fatal error, ${how}` };
  if (o.stopRequested) return { ...base, reason: 'stop', summary: `stopped on request, ${how}` };
  if (o.signal) return { ...base, reason: 'signal', summary: how };
  return { ...base, reason: 'exit', summary: how };
}
