// The CPU of a window split by who spent it, sampled through a run like machine-cpu.ts: the
// watchdog itself, the app below it (the JVM; once it has died and been reaped, its CPU is in the
// watchdog's account of waited-for children, so the sum stays continuous across its death), the
// store (Ceph's daemons: radosgw, the OSD that writes the objects, the monitor) and the machine
// in all. What the crash path's floor is made of (issue 12: "the measured physical limit").
import { readdir, readFile } from 'node:fs/promises';
import { processesBelow } from '../../test/support/processes.ts';
import { readStat, TICKS_PER_SECOND, valueAt } from './machine-cpu.ts';
import { cpuTimes as times } from './proc.ts';

const STORE_DAEMONS = new Set(['radosgw', 'ceph-osd', 'ceph-mon']);

export interface CpuSplit {
  /** The root process's own threads (0 when the root is the app itself). */
  watchdog: number;
  /** Everything below the root, live or reaped (and the root itself when it is the app). */
  app: number;
  store: number;
  /** Every process's CPU, the kernel's included; time stolen by the hypervisor is not in it. */
  machine: number;
  /** Time the hypervisor gave to other guests while this one wanted to run (a shared VM). */
  steal: number;
}

interface Sample extends CpuSplit { at: number }

/** The store's daemons (radosgw, the OSD, the monitor) running now. */
export async function storePids(): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const comm = await readFile(`/proc/${name}/comm`, 'utf8').catch(() => '');
    if (STORE_DAEMONS.has(comm.trim())) pids.push(Number(name));
  }
  return pids;
}

/**
 * Samples every `everyMs` until stop(), timed by `clock` (Date.now unless the run's lines are
 * timed by another). `rootIsApp`: the root is the app itself (a reference JVM
 * run without us), so its own CPU counts as the app's.
 */
export function sampleCpuSplit(rootPid: number, options: { rootIsApp?: boolean; everyMs?: number; clock?: () => number } = {}): { stop(): Promise<{ between(from: number, to: number): CpuSplit }> } {
  const samples: Sample[] = [];
  const clock = options.clock ?? Date.now;
  const store = storePids();
  let tree: number[] = [];
  let busy = false;
  const take = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      // The tree is looked up again every tenth sample (the JVM appears once, then stays).
      if (samples.length % 10 === 0) tree = await processesBelow(rootPid);
      const at = clock();
      const root = await times(rootPid);
      if (!root) return; // gone: the last sample stands for the rest of the window
      let below = root.reaped;
      for (const pid of tree) below += (await times(pid))?.own ?? 0;
      const daemons = await storeTicks(await store);
      const watchdog = options.rootIsApp ? 0 : root.own;
      const app = options.rootIsApp ? root.own + below : below;
      const machine = readStat();
      samples.push({ at, watchdog, app, store: daemons, machine: machine.busy - machine.steal, steal: machine.steal });
    } finally {
      busy = false;
    }
  };
  void take();
  const timer = setInterval(() => void take(), options.everyMs ?? 100);
  return {
    async stop() {
      clearInterval(timer);
      while (busy) await new Promise((resolve) => setTimeout(resolve, 5));
      await take();
      if (samples.length === 0) throw new Error(`no CPU samples of process ${rootPid}`);
      return {
        between(from, to) {
          const part = (key: keyof CpuSplit) => (valueAt(samples, to, (s) => s[key]) - valueAt(samples, from, (s) => s[key])) / TICKS_PER_SECOND;
          return { watchdog: part('watchdog'), app: part('app'), store: part('store'), machine: part('machine'), steal: part('steal') };
        },
      };
    },
  };
}

/** CPU ticks the store's daemons have spent so far (read before and after a run for its share). */
export async function storeTicks(pids: number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) ticks += (await times(pid))?.own ?? 0;
  return ticks;
}
