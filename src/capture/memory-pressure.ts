// The container's memory as the kernel's OOM killer sees it, read from the memory cgroup
// (v1 or v2) of this process, and the threshold that triggers a capture before the kill.
// Non-reclaimable usage = usage minus the inactive file cache (page cache the kernel drops
// before it kills anything). One small file and memory.stat per check; no polling of /proc.
// The cgroup itself is found by container-memory.ts, the one place that knows where it is.
import { readFileSync, readSync } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { UNLIMITED_FROM, type MemoryCgroup } from './container-memory.ts';

export interface MemoryReading {
  /** Bytes charged to the cgroup (page cache included). */
  usage: number;
  inactiveFile: number;
  /** usage − inactive file cache: what reclaim cannot give back. */
  nonReclaimable: number;
  /** undefined when unlimited. */
  limit: number | undefined;
}


/**
 * Usage alone: an upper bound of the non-reclaimable part, enough while far from the
 * threshold. The file stays open and is re-read with one pread (the kernel regenerates its
 * content at offset 0): a tenth of the CPU of opening it every time, and, done synchronously,
 * no thread pool hop (each one woke a worker thread: measured as CPU ticks on an idle machine).
 */
export class UsageReader {
  private readonly buffer = Buffer.alloc(32);

  private constructor(private readonly handle: FileHandle) {}

  static async open(cgroup: MemoryCgroup): Promise<UsageReader> {
    return new UsageReader(await open(path.join(cgroup.dir, cgroup.version === 1 ? 'memory.usage_in_bytes' : 'memory.current'), 'r'));
  }

  /** Synchronous on purpose: a pread of a kernel-generated file never blocks, and no worker thread wakes. */
  read(): number {
    const bytesRead = readSync(this.handle.fd, this.buffer, 0, this.buffer.length, 0);
    return Number(this.buffer.toString('latin1', 0, bytesRead).trim());
  }

  close(): Promise<void> {
    return this.handle.close().catch(() => undefined);
  }
}

const FILES = { 1: ['memory.usage_in_bytes', 'memory.limit_in_bytes', 'memory.stat'], 2: ['memory.current', 'memory.max', 'memory.stat'] } as const;

export async function readMemory(cgroup: MemoryCgroup): Promise<MemoryReading> {
  const [usage, limit, stat] = await Promise.all(FILES[cgroup.version].map((name) => readFile(path.join(cgroup.dir, name), 'utf8')));
  return parseMemory(cgroup.version, usage!, limit!, stat!);
}

/**
 * The same reading, synchronously: three kernel-generated files, microseconds, no thread pool
 * hop (a decision that must be taken now, e.g. whether a dump may be streamed). Throws when
 * the cgroup is gone.
 */
export function readMemoryNow(cgroup: MemoryCgroup): MemoryReading {
  const [usage, limit, stat] = FILES[cgroup.version].map((name) => readFileSync(path.join(cgroup.dir, name), 'utf8'));
  return parseMemory(cgroup.version, usage!, limit!, stat!);
}

function parseMemory(version: 1 | 2, usageText: string, limitText: string, stat: string): MemoryReading {
  const usage = Number(usageText.trim());
  const inactiveFile = statValue(stat, version === 1 ? 'total_inactive_file' : 'inactive_file') ?? 0;
  let limit: number | undefined = limitText.trim() === 'max' ? undefined : Number(limitText.trim());
  if (version === 1 && (limit === undefined || limit >= UNLIMITED_FROM)) {
    // The limit may be set on a parent: v1 tells the effective one in memory.stat.
    const hierarchical = statValue(stat, 'hierarchical_memory_limit');
    limit = hierarchical !== undefined && hierarchical < UNLIMITED_FROM ? hierarchical : undefined;
  }
  return { usage, inactiveFile, nonReclaimable: Math.max(0, usage - inactiveFile), limit };
}

function statValue(stat: string, key: string): number | undefined {
  const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(stat);
  return match ? Number(match[1]) : undefined;
}

/**
 * Fires once when non-reclaimable usage reaches the threshold; fires again only after usage
 * fell back below the re-arm level (threshold − 5% of the limit) and the quiet period passed,
 * so an app living near its limit gives one capture per quiet period, not one per check.
 */
export class PressureTrigger {
  private armed = true;
  private lastFired = -Infinity;

  constructor(private readonly percent: number, private readonly quietMs: number) {}

  /** The non-reclaimable usage at which this trigger fires. */
  thresholdOf(limit: number): number {
    return (limit * this.percent) / 100;
  }

  /** true when this reading should trigger a capture. */
  check(reading: MemoryReading, now: number): boolean {
    if (reading.limit === undefined) return false;
    const threshold = this.thresholdOf(reading.limit);
    if (!this.armed) {
      if (reading.nonReclaimable < threshold - reading.limit * 0.05 && now - this.lastFired >= this.quietMs) this.armed = true;
      return false;
    }
    if (reading.nonReclaimable < threshold) return false;
    this.armed = false;
    this.lastFired = now;
    return true;
  }
}
