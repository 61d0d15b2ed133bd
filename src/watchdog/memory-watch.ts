// The watchdog's view of the container's memory limit: the cgroup and its counters at start,
// a low-rate sample of the app's process memory while it runs, and after a SIGKILL the
// counters again, to tell a kill by the container's limit from any other SIGKILL.
import { formatBytes } from '../config/units.ts';
import type { EventLog } from '../util/event-log.ts';
import { findMemoryCgroup, oomKillSince, readMemoryCounters, realFiles, type MemoryCgroup, type MemoryCounters, type ProcFiles } from '../capture/container-memory.ts';
import { ProcessRssSampler, readJvmMemory } from '../capture/process-memory.ts';
import { memoryFacts, type ContainerMemoryFacts } from '../capture/memory-death.ts';

/** Process memory is sampled this often: cheap (a few /proc reads), and a kill leaves nothing newer. */
export const RSS_SAMPLE_EVERY_MS = 5000;

export interface MemoryWatch {
  /** Starts sampling the app's process tree. */
  follow(appPid: number): void;
  /** Samples now (the JVM just ran out of memory: its size is at its peak). */
  sampleNow(): void;
  /** After the app ended: the cgroup's account when it was SIGKILLed, else undefined. */
  afterDeath(signal: string | undefined): Promise<ContainerMemoryFacts | undefined>;
  stop(): void;
}

const NOTHING: MemoryWatch = { follow: () => undefined, sampleNow: () => undefined, afterDeath: async () => undefined, stop: () => undefined };

/** Never throws: without it the app runs exactly the same, one line says why. */
export async function watchContainerMemory(log: EventLog, files: ProcFiles = realFiles, sampleEveryMs = RSS_SAMPLE_EVERY_MS): Promise<MemoryWatch> {
  try {
    return await startWatch(log, files, sampleEveryMs);
  } catch (error) {
    log.warn(`memory: not watched (${error instanceof Error ? error.message : String(error)})`);
    return NOTHING;
  }
}

async function startWatch(log: EventLog, files: ProcFiles, sampleEveryMs: number): Promise<MemoryWatch> {
  const found = await findMemoryCgroup(files);
  let cgroup: MemoryCgroup | undefined;
  let start: MemoryCounters | undefined;
  if ('cgroup' in found) {
    cgroup = found.cgroup;
    start = await readMemoryCounters(cgroup, files);
    const limit = start.limit !== undefined ? `limit ${formatBytes(start.limit)}` : start.unlimited ? 'no limit' : 'limit not readable';
    const blind = start.oomKill === undefined ? `; its oom_kill counter is not readable (${start.unreadable.join(', ')}), so a kill by the limit can only be suspected` : '';
    log.info(`memory: cgroup v${cgroup.version} ${cgroup.dir}, ${limit}${blind}`);
  } else {
    log.info(`memory: no memory cgroup found (${found.why}); a kill by the container's memory limit will look like any other SIGKILL`);
  }
  let sampler: ProcessRssSampler | undefined;
  return {
    follow(appPid) {
      sampler = new ProcessRssSampler(appPid, sampleEveryMs);
      sampler.start();
    },
    sampleNow() { void sampler?.sample().catch(() => undefined); },
    async afterDeath(signal) {
      sampler?.stop();
      if (signal !== 'SIGKILL' || !cgroup || !start) return undefined;
      const end = await readMemoryCounters(cgroup, files);
      await sampler?.settled();
      const processes = sampler?.lastKnown() ?? [];
      const jvms = await readJvmMemory(processes.map((p) => p.pid));
      return memoryFacts(cgroup, start, end, processes, jvms, oomKillSince(start, end));
    },
    stop() { sampler?.stop(); },
  };
}
