// How the app ended, as a pure function of what the watchdog observed.
import { constants } from 'node:os';
import type { Death, Observed } from '../capture/observed.ts';
import { oomKindOf } from '../capture/oom-kind.ts';
import { containerOomWords } from '../capture/memory-death.ts';

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
  const oom = o.outOfMemory ? oomKindOf(o.oomMessage) : undefined;
  const base = {
    exitStatus,
    ...(o.exitCode !== undefined && !o.signal ? { exitCode: o.exitCode } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(oom ? { oom } : {}),
    ...(o.memory ? { memory: o.memory } : {}),
  };
  // The kernel's OOM killer leaves only SIGKILL; the cgroup's counter says it was the limit.
  if (o.signal === 'SIGKILL' && o.memory?.verdict.killed === true) {
    const before = oom ? ` after an OutOfMemoryError (${oom.what})` : '';
    const cut = o.heapDumpUnfinished ? '; the heap dump the JVM was writing is INCOMPLETE (cut off by the kill)' : '';
    return { ...base, reason: 'container-oom', summary: `${containerOomWords(o.memory, before)}${cut}` };
  }
  // Evidence of the cause wins over how the process ended: a JVM that ran out of memory
  // exits 1 or is killed by a SIGTERM the platform sent after a failed health check.
  if (oom) return { ...base, reason: 'oom', summary: `ran out of ${oom.what} (OutOfMemoryError${oom.message ? `: ${oom.message}` : ''}) and ${how}; ${oom.hint}` };
  if (o.fatalError) return { ...base, reason: 'fatal-error', summary: `JVM fatal error, ${how}` };
  if (o.stopRequested) return { ...base, reason: 'stop', summary: `stopped on request, ${how}` };
  if (o.signal === 'SIGKILL' && o.memory?.verdict.killed === undefined && o.memory?.cgroup) {
    return { ...base, reason: 'signal', summary: `${how}; the container's memory limit may be the cause, but this cannot be told (${o.memory.verdict.evidence})` };
  }
  if (o.signal) return { ...base, reason: 'signal', summary: how };
  return { ...base, reason: 'exit', summary: how };
}
