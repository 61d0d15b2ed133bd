// The whole machine's CPU, from /proc/stat, sampled through a run so that the CPU spent between
// two moments (two log lines) can be read off afterwards. It counts every process: the JVM, the
// watchdog, RGW, the bench itself. Divided by the core count it is the time that work takes at
// 100% of every core: the floor of a CPU-bound path on this machine, against which a target
// below it can be told apart from one that is merely missed (issue 12, "the measured physical
// limit").
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** Clock ticks per second of /proc/stat and /proc/<pid>/stat (USER_HZ, 100 on Linux x86-64). */
export const TICKS_PER_SECOND = 100;

interface Sample { at: number; busy: number; total: number }

export interface MachineCpu {
  cores: number;
  /** CPU seconds all processes used between two Date.now() moments (read off linearly between samples). */
  busySecondsBetween(from: number, to: number): number;
}

/** The machine's ticks so far: busy (stolen time included), of which stolen, and in all. */
export function readStat(): { busy: number; steal: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // cpu  user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy, steal: steal!, total: busy + idle! + iowait! };
}

/** Samples /proc/stat every `everyMs` until stop(); the result answers for any window inside. */
export function sampleMachineCpu(everyMs = 50): { stop(): MachineCpu } {
  const samples: Sample[] = [];
  const take = () => samples.push({ at: Date.now(), ...readStat() });
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      const busyAt = (at: number) => valueAt(samples, at, (s) => s.busy);
      return { cores: os.availableParallelism(), busySecondsBetween: (from, to) => (busyAt(to) - busyAt(from)) / TICKS_PER_SECOND };
    },
  };
}

/** A counter's value at `at`, interpolated between the samples around it (clamped to the first and last). */
export function valueAt<S extends { at: number }>(samples: S[], at: number, pick: (sample: S) => number): number {
  const after = samples.findIndex((s) => s.at >= at);
  if (after <= 0) return pick(after === 0 ? samples[0]! : samples.at(-1)!);
  const a = samples[after - 1]!;
  const b = samples[after]!;
  return b.at === a.at ? pick(b) : pick(a) + ((pick(b) - pick(a)) * (at - a.at)) / (b.at - a.at);
}
