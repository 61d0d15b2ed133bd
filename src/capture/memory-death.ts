// What the container's memory cgroup says about a death, gathered after a SIGKILL, and the
// words for it: "killed by the container's memory limit of 1 GiB; ... java (pid 7) used
// 980 MiB: heap 700 MiB, metaspace 90 MiB, 60 threads". Only what was read is said.
import { formatBytes } from '../config/units.ts';
import type { MemoryCgroup, MemoryCounters, OomKillVerdict } from './container-memory.ts';
import type { JvmMemory, ProcessRss } from './process-memory.ts';

export interface ContainerMemoryFacts {
  /** Where the counters were read; undefined when no memory cgroup was found (see why). */
  cgroup?: MemoryCgroup;
  why?: string;
  limit?: number;
  unlimited?: boolean;
  peak?: number;
  verdict: OomKillVerdict;
  /** Files (and fields) that could not be read: their figures are unknown, not zero. */
  unreadable: string[];
  /** Last known resident memory of each process of the app, largest first. */
  processes: ProcessRss[];
  /** The JVMs' own counters from the hsperfdata files they left. */
  jvms: JvmMemory[];
}

export function memoryFacts(cgroup: MemoryCgroup, start: MemoryCounters, end: MemoryCounters, processes: ProcessRss[], jvms: JvmMemory[], verdict: OomKillVerdict): ContainerMemoryFacts {
  const limit = end.limit ?? start.limit;
  return {
    cgroup,
    ...(limit !== undefined ? { limit } : {}),
    ...(end.unlimited ? { unlimited: true } : {}),
    ...(end.peak !== undefined ? { peak: end.peak } : {}),
    verdict,
    unreadable: [...new Set([...start.unreadable, ...end.unreadable])],
    processes,
    jvms,
  };
}

const mib = (bytes: number) => formatBytes(bytes);

/** HotSpot updates its size counters at each GC: 0 means "not yet", not "empty". */
function jvmWords(jvm: JvmMemory): string {
  const parts: string[] = [];
  if (jvm.heapUsed) parts.push(`heap ${mib(jvm.heapUsed)} used${jvm.heapCommitted ? ` of ${mib(jvm.heapCommitted)} committed` : ''}`);
  else if (jvm.heapCommitted) parts.push(`heap ${mib(jvm.heapCommitted)} committed`);
  if (jvm.metaspaceUsed) parts.push(`metaspace ${mib(jvm.metaspaceUsed)}`);
  if (jvm.threads) parts.push(`${jvm.threads} Java threads`);
  return parts.length > 0 ? `${parts.join(', ')} (JVM counters as of its last GC)` : '';
}

/** The summary of a container OOM kill; `after` tells what the JVM said before it ("after an OutOfMemoryError …"). */
export function containerOomWords(facts: ContainerMemoryFacts, after = ''): string {
  const limit = facts.limit !== undefined ? `the container's memory limit of ${mib(facts.limit)}` : "the container's memory limit (limit not readable)";
  const words = [`killed by ${limit}${after} (the kernel's OOM killer sent SIGKILL; ${facts.verdict.evidence})`];
  words.push(facts.peak !== undefined ? `peak usage ${mib(facts.peak)}` : 'peak usage not readable');
  for (const p of facts.processes.slice(0, 4)) {
    const jvm = facts.jvms.find((j) => j.pid === p.pid);
    const detail = jvm ? jvmWords(jvm) : '';
    words.push(`${p.command} (pid ${p.pid}) last seen using ${mib(p.rssBytes)}${detail ? `: ${detail}` : ''}`);
  }
  for (const jvm of facts.jvms.filter((j) => !facts.processes.some((p) => p.pid === j.pid))) {
    const detail = jvmWords(jvm);
    if (detail) words.push(`JVM pid ${jvm.pid}: ${detail}`);
  }
  if (facts.processes.length === 0) words.push('no process memory sample was taken before the kill');
  return words.join('; ');
}
