// The CPU of a window split by who spent it, sampled through a run like machine-cpu.ts: the
// watchdog itself, the app below it (the JVM; once it has died and been reaped, its CPU is in the
// watchdog's account of waited-for children, so the sum stays continuous across its death), the
// store (Ceph's daemons: radosgw, the OSD that writes the objects, the monitor) and the machine
// in all. What the crash path's floor is made of (issue 12: "the measured physical limit").
import { readdir, readFile } from 'node:fs/promises';


/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux x86-64). */
const TICKS_PER_SECOND = 100;
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

/** utime, stime, cutime, cstime of a process, in ticks; undefined once it is gone. */
async function times(pid: number): Promise<{ own: number; reaped: number } | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return { own: f[11]! + f[12]!, reaped: f[13]! + f[14]! };
}

/** Children of every thread of pid, and theirs: a few small reads, not a scan of all of /proc. */
async function treeBelow(pid: number): Promise<number[]> {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && found.length < 1000) {
    const parent = queue.shift()!;
    for (const tid of await readdir(`/proc/${parent}/task`).catch(() => [] as string[])) {
      const text = await readFile(`/proc/${parent}/task/${tid}/children`, 'utf8').catch(() => '');
      for (const child of text.split(' ').filter(Boolean).map(Number)) { found.push(child); queue.push(child); }
    }
  }
  return found;
}

async function storePids(): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const comm = await readFile(`/proc/${name}/comm`, 'utf8').catch(() => '');
    if (STORE_DAEMONS.has(comm.trim())) pids.push(Number(name));
  }
  return pids;
}

async function machineBusy(): Promise<{ machine: number; steal: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[];
  return { machine: user! + nice! + system! + irq! + softirq!, steal: steal! };
}

/**
 * Samples every `everyMs` until stop(), timed by `clock` (Date.now unless the run's lines are
 * timed by another). `rootIsApp`: the root is the app itself (a reference JVM
 * run without us), so its own CPU counts as the app's.
 */
export function sampleCpuSplit(rootPid: number, options: { rootIsApp?: boolean; everyMs?: number; clock?: () => number } = {}): { stop(): Promise<{ between(from: number, to: number): CpuSplit }> } {
  const samples: Sample[] = [];
  const clock = options.clock ?? Date.now;
  let store: Promise<number[]> = storePids();
  let tree: number[] = [];
  let busy = false;
  const take = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      // The tree is looked up again every tenth sample (the JVM appears once, then stays).
      if (samples.length % 10 === 0) tree = await treeBelow(rootPid);
      const at = clock();
      const root = await times(rootPid);
      if (!root) return; // gone: the last sample stands for the rest of the window
      let below = root.reaped;
      for (const pid of tree) below += (await times(pid))?.own ?? 0;
      let daemons = 0;
      for (const pid of await store) daemons += (await times(pid))?.own ?? 0;
      const watchdog = options.rootIsApp ? 0 : root.own;
      const app = options.rootIsApp ? root.own + below : below;
      samples.push({ at, watchdog, app, store: daemons, ...(await machineBusy()) });
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
      store = Promise.resolve([]);
      if (samples.length === 0) throw new Error(`no CPU samples of process ${rootPid}`);
      return {
        between(from, to) {
          const part = (key: keyof CpuSplit) => (valueAt(samples, to, key) - valueAt(samples, from, key)) / TICKS_PER_SECOND;
          return { watchdog: part('watchdog'), app: part('app'), store: part('store'), machine: part('machine'), steal: part('steal') };
        },
      };
    },
  };
}

/** A counter's value at `at`, interpolated between the samples around it (clamped to the ends). */
function valueAt(samples: Sample[], at: number, key: keyof CpuSplit): number {
  const after = samples.findIndex((s) => s.at >= at);
  if (after <= 0) return after === 0 ? samples[0]![key] : samples.at(-1)![key];
  const a = samples[after - 1]!;
  const b = samples[after]!;
  return b.at === a.at ? b[key] : a[key] + ((b[key] - a[key]) * (at - a.at)) / (b.at - a.at);
}
