// Settings of the memory watch: capture evidence from a running app before the container's
// memory limit kills it (memory pressure), and from a JVM stuck collecting garbage (GC spiral).
import { problem, shown, type Findings } from './problems.ts';
import { readChoice, readDuration, readSetting } from './settings.ts';
import type { Env } from './types.ts';

export interface MemoryWatchConfig {
  /** Non-reclaimable container memory, in percent of the limit, that triggers a capture; undefined = off. */
  pressurePercent: number | undefined;
  /** How often the container's memory and the JVMs' GC counters are read. */
  checkEveryMs: number;
  /** 'capture': thread dump and class histogram; 'kill': also a heap dump, then the JVM is killed. */
  gcSpiral: 'off' | 'capture' | 'kill';
  /** Share of wall time spent in GC over the window that counts as a spiral, in percent. */
  gcSpiralPercent: number;
  gcSpiralWindowMs: number;
  /** Add -XX:NativeMemoryTracking=summary to the JVM options (costs the JVM a little memory and CPU). */
  nmt: boolean;
}

const SECOND = 1000;
export const MEMORY_WATCH_DEFAULTS: MemoryWatchConfig = {
  pressurePercent: 90,
  checkEveryMs: 10 * SECOND,
  gcSpiral: 'capture',
  gcSpiralPercent: 90,
  gcSpiralWindowMs: 60 * SECOND,
  nmt: false,
};

export function readMemoryWatch(env: Env, findings: Findings): MemoryWatchConfig {
  const d = MEMORY_WATCH_DEFAULTS;
  const pressure = readPercent(env, 'POSTMORTEM_MEMORY_PRESSURE', d.pressurePercent, true, findings);
  const checkEveryMs = readDuration(env, 'POSTMORTEM_MEMORY_CHECK_EVERY', { min: SECOND, max: 10 * 60 * SECOND, fallback: d.checkEveryMs }, findings);
  const gcSpiralWindowMs = readDuration(env, 'POSTMORTEM_GC_SPIRAL_WINDOW', { min: 5 * SECOND, max: 60 * 60 * SECOND, fallback: d.gcSpiralWindowMs }, findings);
  if (gcSpiralWindowMs < 2 * checkEveryMs) {
    findings.problems.push(problem({
      setting: 'POSTMORTEM_GC_SPIRAL_WINDOW',
      received: `${gcSpiralWindowMs / SECOND}s`,
      expected: `at least two checks long (POSTMORTEM_MEMORY_CHECK_EVERY is ${checkEveryMs / SECOND}s)`,
      fix: 'lengthen POSTMORTEM_GC_SPIRAL_WINDOW or shorten POSTMORTEM_MEMORY_CHECK_EVERY',
    }));
  }
  return {
    pressurePercent: pressure,
    checkEveryMs,
    gcSpiral: readChoice(env, 'POSTMORTEM_GC_SPIRAL', ['off', 'capture', 'kill'] as const, findings) ?? d.gcSpiral,
    gcSpiralPercent: readPercent(env, 'POSTMORTEM_GC_SPIRAL_THRESHOLD', d.gcSpiralPercent, false, findings) ?? d.gcSpiralPercent,
    gcSpiralWindowMs,
    nmt: (readChoice(env, 'POSTMORTEM_NMT', ['off', 'summary'] as const, findings) ?? 'off') === 'summary',
  };
}

/** "90%" or "90" (1-99); "off" when allowed. */
function readPercent(env: Env, name: string, fallback: number | undefined, offAllowed: boolean, findings: Findings): number | undefined {
  const text = readSetting(env, name);
  if (text === undefined) return fallback;
  if (offAllowed && text.toLowerCase() === 'off') return undefined;
  const match = /^(\d{1,2})\s*%?$/.exec(text);
  const value = match ? Number(match[1]) : NaN;
  if (value >= 1 && value <= 99) return value;
  findings.problems.push(problem({
    setting: name,
    received: shown(text),
    expected: `a percentage from 1% to 99%${offAllowed ? ', or off' : ''}`,
    fix: `set ${name} to e.g. ${fallback ?? 90}%${offAllowed ? ' (or off)' : ''}, or remove it for the default${fallback === undefined ? '' : ` ${fallback}%`}`,
  }));
  return fallback;
}
