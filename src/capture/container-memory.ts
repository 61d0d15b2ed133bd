// The container's memory cgroup (v1 or v2): where it is, its limit, and the counters that
// show the kernel OOM-killed something in it. Found once at start from /proc/self/cgroup and
// /proc/self/mountinfo; read again after a SIGKILL. A counter we cannot read is named as
// unreadable, never guessed.
import { existsSync, readFileSync } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface MemoryCgroup {
  version: 1 | 2;
  /** The cgroup's folder as mounted here. */
  dir: string;
}

export interface MemoryCounters {
  /** Bytes; undefined when unlimited or unreadable (see unreadable). */
  limit?: number;
  /** true when the cgroup has no limit. */
  unlimited?: boolean;
  usage?: number;
  /** Highest usage seen (v1 memory.max_usage_in_bytes, v2 memory.peak where the kernel has it). */
  peak?: number;
  /** Processes the kernel OOM killer killed in this cgroup (v1 memory.oom_control, v2 memory.events). */
  oomKill?: number;
  /** v1: times usage hit the limit (memory.failcnt); v2: memory.events `max`. */
  limitHits?: number;
  /** What could not be read, by file (and field). */
  unreadable: string[];
}

/** v1 reports "no limit" as the largest page-aligned counter; anything this big is no limit. */
export const UNLIMITED_FROM = 2 ** 60;

export interface ProcFiles {
  /** Reads a file; rejects when it cannot. */
  read(file: string): Promise<string>;
  exists(file: string): Promise<boolean>;
}

export const realFiles: ProcFiles = {
  read: (file) => readFile(file, 'utf8'),
  exists: (file) => access(file).then(() => true, () => false),
};

/**
 * The same files read synchronously: before the app is spawned, a read through the thread pool
 * can wait behind a busy machine for many milliseconds; these take microseconds and resolve
 * without leaving the current turn.
 */
export const syncFiles: ProcFiles = {
  read: async (file) => readFileSync(file, 'utf8'),
  exists: async (file) => existsSync(file),
};

/** The memory cgroup and its counters at one moment (the watchdog takes them before the spawn). */
export interface MemoryAtStart {
  cgroup: MemoryCgroup;
  counters: MemoryCounters;
}

/** Never throws: undefined when there is no readable memory cgroup (the watch says why later). */
export async function memoryAtStart(files: ProcFiles = syncFiles, self = '/proc/self'): Promise<MemoryAtStart | undefined> {
  try {
    const found = await findMemoryCgroup(files, self);
    if (!('cgroup' in found)) return undefined;
    return { cgroup: found.cgroup, counters: await readMemoryCounters(found.cgroup, files) };
  } catch {
    return undefined;
  }
}

/** Undoes mountinfo's octal escapes (a space is \040). */
function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

interface Mount { root: string; mountPoint: string; fsType: string; superOptions: string[] }

export function parseMountInfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields.length < dash + 4) continue;
    mounts.push({
      root: unescapeMount(fields[3]!),
      mountPoint: unescapeMount(fields[4]!),
      fsType: fields[dash + 1]!,
      superOptions: fields[dash + 3]!.split(','),
    });
  }
  return mounts;
}

/** The memory cgroup's path for v1 (controller list holds `memory`) and v2 (`0::path`). */
export function parseProcCgroup(text: string): { v1?: string; v2?: string } {
  const found: { v1?: string; v2?: string } = {};
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') found.v2 = m[3]!;
    else if (m[2]!.split(',').includes('memory')) found.v1 = m[3]!;
  }
  return found;
}

/** Where a cgroup path lands under a mount: relative to the mount's root when inside it. */
function candidates(mount: Mount, cgroupPath: string): string[] {
  const list: string[] = [];
  if (cgroupPath === mount.root || cgroupPath.startsWith(`${mount.root.replace(/\/$/, '')}/`)) {
    list.push(path.join(mount.mountPoint, cgroupPath.slice(mount.root.length)));
  }
  // A cgroup namespace without its own mount: the path is from the hierarchy's root.
  list.push(path.join(mount.mountPoint, cgroupPath), mount.mountPoint);
  return [...new Set(list)];
}

export type CgroupLookup = { cgroup: MemoryCgroup } | { why: string };

/** Finds this process's memory cgroup; `why` says in words when it cannot. */
export async function findMemoryCgroup(files: ProcFiles = realFiles, self = '/proc/self'): Promise<CgroupLookup> {
  let cgroupText: string;
  let mountText: string;
  try {
    cgroupText = await files.read(`${self}/cgroup`);
    mountText = await files.read(`${self}/mountinfo`);
  } catch (error) {
    return { why: `cannot read ${self}/cgroup or mountinfo: ${error instanceof Error ? error.message : String(error)}` };
  }
  const paths = parseProcCgroup(cgroupText);
  const mounts = parseMountInfo(mountText);
  // The memory controller lives in one hierarchy: v1 when a v1 hierarchy has it, else v2.
  if (paths.v1 !== undefined) {
    for (const mount of mounts.filter((m) => m.fsType === 'cgroup' && m.superOptions.includes('memory'))) {
      for (const dir of candidates(mount, paths.v1)) {
        if (await files.exists(path.join(dir, 'memory.limit_in_bytes'))) return { cgroup: { version: 1, dir } };
      }
    }
  }
  if (paths.v2 !== undefined) {
    for (const mount of mounts.filter((m) => m.fsType === 'cgroup2')) {
      for (const dir of candidates(mount, paths.v2)) {
        if (await files.exists(path.join(dir, 'memory.max')) || await files.exists(path.join(dir, 'memory.events'))) return { cgroup: { version: 2, dir } };
      }
    }
  }
  if (paths.v1 === undefined && paths.v2 === undefined) return { why: `${self}/cgroup names no memory cgroup` };
  return { why: `the memory cgroup ${paths.v1 ?? paths.v2} is not mounted where this process can read it` };
}

/** `key value` lines (memory.events, memory.oom_control) as numbers. */
export function parseKeyValues(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(\d+)\s*$/.exec(line);
    if (m) map.set(m[1]!, Number(m[2]));
  }
  return map;
}

/** Reads the limit, usage, peak and OOM counters; each one missing is listed in `unreadable`. */
export async function readMemoryCounters(cgroup: MemoryCgroup, files: ProcFiles = realFiles): Promise<MemoryCounters> {
  const unreadable: string[] = [];
  const text = async (name: string) => {
    try {
      return await files.read(path.join(cgroup.dir, name));
    } catch {
      unreadable.push(name);
      return undefined;
    }
  };
  const number = async (name: string) => {
    const t = (await text(name))?.trim();
    if (t === undefined) return undefined;
    if (t === 'max') return Number.POSITIVE_INFINITY;
    if (/^\d+$/.test(t)) return Number(t);
    unreadable.push(name);
    return undefined;
  };
  const field = (map: Map<string, number> | undefined, file: string, key: string) => {
    const value = map?.get(key);
    if (map && value === undefined) unreadable.push(`${file} ${key}`);
    return value;
  };
  const counters: MemoryCounters = { unreadable };
  let limit: number | undefined;
  if (cgroup.version === 1) {
    limit = await number('memory.limit_in_bytes');
    counters.usage = await number('memory.usage_in_bytes');
    counters.peak = await number('memory.max_usage_in_bytes');
    counters.limitHits = await number('memory.failcnt');
    const oom = await text('memory.oom_control');
    // oom_kill appeared in Linux 4.13; older kernels only say under_oom.
    counters.oomKill = field(oom === undefined ? undefined : parseKeyValues(oom), 'memory.oom_control', 'oom_kill');
  } else {
    limit = await number('memory.max');
    counters.usage = await number('memory.current');
    counters.peak = await number('memory.peak'); // Linux 5.19+
    const events = await text('memory.events');
    const map = events === undefined ? undefined : parseKeyValues(events);
    counters.oomKill = field(map, 'memory.events', 'oom_kill');
    counters.limitHits = field(map, 'memory.events', 'max');
  }
  if (limit !== undefined && limit >= UNLIMITED_FROM) counters.unlimited = true;
  else if (limit !== undefined) counters.limit = limit;
  return strip(counters);
}

function strip(counters: MemoryCounters): MemoryCounters {
  for (const key of Object.keys(counters) as (keyof MemoryCounters)[]) if (counters[key] === undefined) delete counters[key];
  return counters;
}

export interface OomKillVerdict {
  /** true: the kernel OOM-killed a process of this cgroup since start; undefined: cannot tell. */
  killed: boolean | undefined;
  /** The evidence in words, for the report. */
  evidence: string;
}

/** Did the OOM killer act between two readings? Only counters that moved count. */
export function oomKillSince(start: MemoryCounters, end: MemoryCounters): OomKillVerdict {
  if (start.oomKill !== undefined && end.oomKill !== undefined) {
    const moved = end.oomKill - start.oomKill;
    return { killed: moved > 0, evidence: `oom_kill counter ${start.oomKill} -> ${end.oomKill}` };
  }
  if (start.limitHits !== undefined && end.limitHits !== undefined && end.limitHits > start.limitHits) {
    return { killed: undefined, evidence: `no readable oom_kill counter; usage hit the limit ${end.limitHits - start.limitHits} times since start` };
  }
  return { killed: undefined, evidence: 'no readable oom_kill counter' };
}
