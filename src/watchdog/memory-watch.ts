// The watchdog's one view of the container's memory: the cgroup and its counters at start, one
// low-frequency check while the app runs that reads one cgroup file (usage, with a pread of a
// file kept open) and hands it to whoever listens (the pressure and GC spiral watch), the app's
// process RSS read only when usage nears the limit, when a JVM runs out of memory and after the
// death, and after a SIGKILL the counters again, to tell a kill by the container's limit from
// any other SIGKILL.
// The check's cadence follows the risk: every POSTMORTEM_MEMORY_CHECK_EVERY (default 10 s)
// while usage is near the limit, rising towards it, or a listener asks (a JVM collecting hard),
// else RELAXED_FACTOR times less often. Each wake-up of an idle process costs far more CPU than
// the check itself (its pages have gone cold: bench/README.md, "Idle and watching CPU"), so fewer
// wake-ups is the only lever that counts while nothing happens.
// No kernel notification is used: cgroup v1 threshold notifications (cgroup.event_control)
// need an eventfd and v2 PSI triggers need poll(POLLPRI), neither reachable from Node.js
// without native code; v2 memory.events is inotify-able but moves only once the limit is hit.
import { formatBytes } from '../config/units.ts';
import type { EventLog } from '../util/event-log.ts';
import { findMemoryCgroup, oomKillSince, readMemoryCounters, realFiles, type MemoryAtStart, type MemoryCgroup, type MemoryCounters, type ProcFiles } from '../capture/container-memory.ts';
import { readMemory, UsageReader } from '../capture/memory-pressure.ts';
import { ProcessRssSampler, readJvmMemory } from '../capture/process-memory.ts';
import { memoryFacts, type ContainerMemoryFacts } from '../capture/memory-death.ts';

/** Process RSS is read on a tick once usage reaches this share of the limit (or the pressure threshold, if lower). */
export const RSS_NEAR_PERCENT = 75;
/** Far from every trigger, the check runs this many times less often than POSTMORTEM_MEMORY_CHECK_EVERY. */
export const RELAXED_FACTOR = 6;
/** For this long after the app started every check comes at the close cadence: memory grows most while an app starts. */
export const START_CLOSE_MS = 60_000;

export interface MemoryTick {
  /** Bytes charged to the cgroup now; undefined when there is no limit to watch. */
  usage: number | undefined;
  limit: number | undefined;
}

export interface MemoryWatch {
  /** The container's memory cgroup, when found. */
  readonly cgroup: MemoryCgroup | undefined;
  /** Its effective limit in bytes; undefined when unlimited or unreadable. */
  readonly limit: number | undefined;
  /** The app runs as this pid: the tick starts (when there is a limit or a listener). */
  follow(appPid: number): void;
  /** Called on every tick, never awaited: a listener that is busy skips ticks itself. */
  onTick(listener: (tick: MemoryTick) => void): void;
  /** A listener's own reason to check at the close cadence (e.g. a JVM collecting hard), until it says otherwise. */
  watchClosely(reason: string, on: boolean): void;
  /** How many checks ran at each cadence so far (what the tests assert the cadence by). */
  readonly checks: { close: number; relaxed: number };
  /** Samples the process RSS now (the JVM just ran out of memory: its size is at its peak). */
  sampleNow(): void;
  /** After the app ended: the cgroup's account when it was SIGKILLed, else undefined. */
  afterDeath(signal: string | undefined): Promise<ContainerMemoryFacts | undefined>;
  stop(): void;
}

export interface MemoryWatchOptions {
  /** The close cadence (POSTMORTEM_MEMORY_CHECK_EVERY); far from every trigger RELAXED_FACTOR times this. */
  everyMs: number;
  /** The pressure threshold in percent of the limit, when that capture is on. */
  pressurePercent?: number | undefined;
  files?: ProcFiles;
  /** Whose cgroup: this process's by default (tests watch a child's). */
  self?: string;
  /**
   * The counters as read before the app was spawned: the OOM-kill account starts there, so a
   * kill in the app's first moments (before this watch loads) still counts.
   */
  atStart?: MemoryAtStart | undefined;
  /** Close cadence after the app started, default START_CLOSE_MS (tests shorten it). */
  startCloseMs?: number;
}

/**
 * Whether the next check should come at the close cadence: usage is near the limit or, rising
 * as fast as it did since the previous check, would get there before two relaxed checks passed.
 */
export function nearOrRising(input: {
  usage: number | undefined;
  at: number;
  previous: { usage: number; at: number } | undefined;
  near: number | undefined;
  relaxedMs: number;
}): boolean {
  const { usage, at, previous, near, relaxedMs } = input;
  if (usage === undefined || near === undefined) return false;
  if (usage >= near) return true;
  const rate = previous && at > previous.at ? (usage - previous.usage) / (at - previous.at) : 0;
  return usage + rate * relaxedMs * 2 >= near;
}

const NOTHING: MemoryWatch = {
  cgroup: undefined, limit: undefined, follow: () => undefined, onTick: () => undefined, watchClosely: () => undefined, checks: { close: 0, relaxed: 0 },
  sampleNow: () => undefined, afterDeath: async () => undefined, stop: () => undefined,
};

/** Never throws: without it the app runs exactly the same, one line says why. */
export async function watchContainerMemory(log: EventLog, options: MemoryWatchOptions): Promise<MemoryWatch> {
  try {
    return await startWatch(log, options);
  } catch (error) {
    log.warn(`memory: not watched (${error instanceof Error ? error.message : String(error)})`);
    return NOTHING;
  }
}

async function startWatch(log: EventLog, options: MemoryWatchOptions): Promise<MemoryWatch> {
  const files = options.files ?? realFiles;
  // Found once, before the app was spawned, when that worked: the same cgroup is not looked up twice.
  const found = options.atStart && options.self === undefined ? { cgroup: options.atStart.cgroup } : await findMemoryCgroup(files, options.self);
  let cgroup: MemoryCgroup | undefined;
  let start: MemoryCounters | undefined;
  let limit: number | undefined;
  let usage: UsageReader | undefined;
  if ('cgroup' in found) {
    cgroup = found.cgroup;
    start = options.atStart?.cgroup.dir === cgroup.dir ? options.atStart.counters : await readMemoryCounters(cgroup, files);
    // v1 may set the limit on a parent: readMemory knows the effective one.
    limit = start.limit ?? (await readMemory(cgroup).catch(() => undefined))?.limit;
    if (limit !== undefined) usage = await UsageReader.open(cgroup).catch(() => undefined);
    const said = limit !== undefined ? `limit ${formatBytes(limit)}` : start.unlimited ? 'no limit' : 'limit not readable';
    const blind = start.oomKill === undefined ? `; its oom_kill counter is not readable (${start.unreadable.join(', ')}), so a kill by the limit can only be suspected` : '';
    log.info(`memory: cgroup v${cgroup.version} ${cgroup.dir}, ${said}${blind}`);
  } else {
    log.info(`memory: no memory cgroup found (${found.why}); a kill by the container's memory limit will look like any other SIGKILL`);
  }
  const nearPercent = Math.min(RSS_NEAR_PERCENT, options.pressurePercent ?? RSS_NEAR_PERCENT);
  const near = limit !== undefined ? (limit * nearPercent) / 100 : undefined;
  const relaxedMs = options.everyMs * RELAXED_FACTOR;
  const listeners: ((tick: MemoryTick) => void)[] = [];
  const closeReasons = new Set<string>();
  const checks = { close: 0, relaxed: 0 };
  let sampler: ProcessRssSampler | undefined;
  let timer: NodeJS.Timeout | undefined;
  let pendingRelaxed = false;
  let lastCheck = Date.now();
  let stopped = false;
  let previous: { usage: number; at: number } | undefined;
  let closeUntil = Infinity; // set when the app is followed

  const tick = (): number => {
    const now = usage?.read();
    const at = Date.now();
    if (now !== undefined && near !== undefined && now >= near) void sampler?.sample().catch(() => undefined);
    for (const listener of listeners) listener({ usage: now, limit });
    const close = at < closeUntil || closeReasons.size > 0 || nearOrRising({ usage: now, at, previous, near, relaxedMs });
    if (now !== undefined) previous = { usage: now, at };
    return close ? options.everyMs : relaxedMs;
  };
  const schedule = (ms: number) => {
    pendingRelaxed = ms > options.everyMs;
    timer = setTimeout(() => {
      if (pendingRelaxed) checks.relaxed += 1; else checks.close += 1;
      lastCheck = Date.now();
      let next = options.everyMs;
      try { next = tick(); } catch (error) { log.warn(`memory check failed: ${error instanceof Error ? error.message : String(error)}`); }
      if (!stopped) schedule(next);
    }, ms);
    timer.unref(); // never keeps the watchdog alive on its own
  };
  // The first check comes at the close cadence: an app's memory grows most while it starts.
  const run = () => {
    if (timer || stopped || !sampler || (usage === undefined && listeners.length === 0)) return;
    schedule(options.everyMs);
  };
  const stop = () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    void usage?.close();
    usage = undefined;
  };
  return {
    cgroup,
    limit,
    follow(appPid) {
      sampler = new ProcessRssSampler(appPid);
      closeUntil = Date.now() + (options.startCloseMs ?? START_CLOSE_MS);
      run();
    },
    onTick(listener) {
      listeners.push(listener);
      run();
    },
    watchClosely(reason, on) {
      if (on) closeReasons.add(reason); else closeReasons.delete(reason);
      // Asked while a relaxed check is pending: bring it forward to the close cadence.
      if (on && pendingRelaxed && timer && !stopped) {
        clearTimeout(timer);
        schedule(Math.max(0, lastCheck + options.everyMs - Date.now()));
      }
    },
    checks,
    sampleNow() { void sampler?.sample().catch(() => undefined); },
    async afterDeath(signal) {
      stop();
      if (signal !== 'SIGKILL' || !cgroup || !start) return undefined;
      const end = await readMemoryCounters(cgroup, files);
      await sampler?.settled();
      await sampler?.sample().catch(() => undefined); // what is left: the watchdog itself and any survivor
      const processes = sampler?.lastKnown() ?? [];
      const jvms = await readJvmMemory(processes.map((p) => p.pid));
      return memoryFacts(cgroup, start, end, processes, jvms, oomKillSince(start, end));
    },
    stop,
  };
}
