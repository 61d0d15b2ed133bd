// The app's processes and their resident memory, sampled when the container nears its limit,
// so that after a kernel OOM kill (which leaves nothing behind) the report can still say who
// held what.
// A JVM killed by SIGKILL leaves its hsperfdata file: its counters give the JVM's own split.
import { readFile } from 'node:fs/promises';
import { descendantsOf } from './process-tree.ts';
import { readPerfData, type PerfValue } from './attach/perfdata.ts';

export interface ProcessRss {
  pid: number;
  command: string;
  rssBytes: number;
  /** When this was read (ISO time). */
  at: string;
}

/** VmRSS of one process from /proc/<pid>/status, with its name; undefined once it is gone. */
export async function readProcessRss(pid: number, now: Date): Promise<ProcessRss | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  if (!status) return undefined;
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
  const name = /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?';
  if (!rss) return undefined; // a zombie or kernel thread has no VmRSS
  return { pid, command: name, rssBytes: Number(rss[1]) * 1024, at: now.toISOString() };
}

/**
 * Keeps the last known RSS of each process of the app's tree. It has no timer of its own:
 * the memory watch calls sample() when the container nears its limit, when a JVM runs out of
 * memory and after a death. A process that is gone keeps its last sample, which is the point.
 */
export class ProcessRssSampler {
  private readonly last = new Map<number, ProcessRss>();
  private running: Promise<void> | undefined;

  constructor(private readonly root: number, private readonly now: () => Date = () => new Date()) {}

  /** One sample at a time; a call while one runs gets that one. */
  sample(): Promise<void> {
    this.running ??= this.readTree().finally(() => { this.running = undefined; });
    return this.running;
  }

  /** Waits for a sample in flight (the app just died: it may be the last one). */
  async settled(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  private async readTree(): Promise<void> {
    const at = this.now();
    // Our own memory counts against the same limit: the report shows it beside the app's.
    for (const pid of [...descendantsOf(this.root), process.pid]) {
      const rss = await readProcessRss(pid, at);
      if (rss) this.last.set(pid, pid === process.pid ? { ...rss, command: 'postmortem watchdog' } : rss);
    }
  }

  /** Last known RSS of every process seen, largest first. */
  lastKnown(): ProcessRss[] {
    return [...this.last.values()].sort((a, b) => b.rssBytes - a.rssBytes);
  }
}

export interface JvmMemory {
  pid: number;
  heapUsed?: number;
  heapCommitted?: number;
  metaspaceUsed?: number;
  compressedClassUsed?: number;
  threads?: number;
  /** When the JVM last updated these counters is not recorded by HotSpot: they are the last values it wrote. */
  source: string;
}

const num = (v: PerfValue | undefined): number | undefined => (typeof v === 'bigint' ? Number(v) : undefined);

/** Sums `sun.gc.generation.N.space.M.<what>` over the heap's spaces. */
function heapSum(entries: Map<string, PerfValue>, what: 'used' | 'capacity'): number | undefined {
  let total: number | undefined;
  for (const [name, value] of entries) {
    if (/^sun\.gc\.generation\.\d+\.space\.\d+\./.test(name) && name.endsWith(`.${what}`) && typeof value === 'bigint') {
      total = (total ?? 0) + Number(value);
    }
  }
  return total;
}

/** The JVM's own memory counters from the hsperfdata file it left (it stays after SIGKILL). */
export function jvmMemoryOf(pid: number, entries: Map<string, PerfValue>, source: string): JvmMemory {
  const memory: JvmMemory = { pid, source };
  const set = <K extends keyof JvmMemory>(key: K, value: JvmMemory[K] | undefined) => { if (value !== undefined) memory[key] = value; };
  set('heapUsed', heapSum(entries, 'used'));
  set('heapCommitted', heapSum(entries, 'capacity'));
  set('metaspaceUsed', num(entries.get('sun.gc.metaspace.used')));
  set('compressedClassUsed', num(entries.get('sun.gc.compressedclassspace.used')));
  set('threads', num(entries.get('java.threads.live')));
  return memory;
}

/** The JVM counters of each pid that left an hsperfdata file in /tmp (HotSpot ignores TMPDIR for it). */
export async function readJvmMemory(pids: number[], tmpDir = '/tmp', uid = process.getuid?.() ?? 0): Promise<JvmMemory[]> {
  const found: JvmMemory[] = [];
  for (const pid of new Set(pids)) {
    const entries = await readPerfData(tmpDir, pid, uid).catch(() => undefined);
    if (entries) found.push(jvmMemoryOf(pid, entries, `${tmpDir}/hsperfdata_*/${pid}`));
  }
  return found;
}
