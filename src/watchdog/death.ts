// How the app ended, as a pure function of what the watchdog observed.
import { constants } from 'node:os';
import type { Death, Observed } from '../capture/observed.ts';

export type { Death, DeathReason, Observed } from '../capture/observed.ts';

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
