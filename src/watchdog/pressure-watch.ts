// While the app runs, on each tick of the one memory watch (memory-watch.ts: one cgroup file
// read every POSTMORTEM_MEMORY_CHECK_EVERY, default 10 s): reads the JVMs' own GC counters
// and, near the threshold, the cgroup's memory.stat, and captures evidence
// from the live app when memory nears the limit (reason memory-pressure) or a JVM is stuck
// in GC (reason gc-spiral; with POSTMORTEM_GC_SPIRAL=kill it then gets a heap dump and is
// killed). Why a tick and no kernel notification: memory-watch.ts; its cost is in the bench.
import type { Config } from '../config/types.ts';
import { formatBytes, formatDuration } from '../config/units.ts';
import { findPerfData } from '../capture/attach/perfdata.ts';
import { inspectTarget } from '../capture/attach/target.ts';
import type { Crash } from '../capture/crash.ts';
import { GcCounterReader, GcSpiralDetector, type GcVerdict } from '../capture/gc-spiral.ts';
import { AppJvms } from '../capture/app-jvms.ts';
import { captureLive } from '../capture/live-capture.ts';
import { PressureTrigger, readMemory } from '../capture/memory-pressure.ts';
import type { EventLog } from '../util/event-log.ts';
import { RELAXED_FACTOR, type MemoryTick, type MemoryWatch as ContainerMemoryWatch } from './memory-watch.ts';

/** After a pressure capture, the next one waits at least this long (and for usage to fall first). */
export const PRESSURE_QUIET_MS = 10 * 60_000;
/** Once a JVM is watched, the app's processes are looked up again this often (another may start). */
const JVM_LOOKUP_MS = 5 * 60_000;
/** A JVM that spent this share of the spiral threshold in GC since the last check is checked at the close cadence. */
const GC_CLOSE_SHARE = 0.5;

export interface MemoryWatchDeps {
  config: Config;
  log: EventLog;
  appPid: number;
  /** The one memory tick (and the cgroup it found), shared with the container-OOM account. */
  memory: ContainerMemoryWatch;
  newCrash: (reason: 'memory-pressure' | 'gc-spiral') => Crash;
  logTail: () => Buffer;
}

export interface PressureWatch {
  /** Stops checking (the app ended); captures under way go on. */
  stop(): void;
  /** Resolves when every capture started so far has its report stored (or failed). */
  settled(): Promise<void>;
}

interface WatchedJvm { counters: GcCounterReader; detector: GcSpiralDetector; done: boolean }

/** Never throws: a watch that cannot start is logged and the app runs as before. */
export async function startMemoryWatch(deps: MemoryWatchDeps): Promise<PressureWatch> {
  try {
    return await watch(deps);
  } catch (error) {
    deps.log.warn(`memory watch is off: ${error instanceof Error ? error.message : String(error)}`);
    return { stop: () => undefined, settled: async () => undefined };
  }
}

async function watch(deps: MemoryWatchDeps): Promise<PressureWatch> {
  const { config, log } = deps;
  const settings = config.memoryWatch;
  const captures = new Set<Promise<unknown>>();
  const noop: PressureWatch = { stop: () => undefined, settled: async () => { await Promise.allSettled([...captures]); } };
  let cgroup = settings.pressurePercent !== undefined ? deps.memory.cgroup : undefined;
  let limit = deps.memory.limit;
  if (settings.pressurePercent !== undefined && (!cgroup || limit === undefined)) {
    log.info(`memory pressure capture is off: ${cgroup ? `the memory cgroup ${cgroup.dir} has no limit` : 'no readable memory cgroup'}`);
    cgroup = undefined;
  }
  if (!cgroup && settings.gcSpiral === 'off') return noop;
  const trigger = new PressureTrigger(settings.pressurePercent ?? 100, PRESSURE_QUIET_MS);
  const jvms = new Map<number, WatchedJvm>();
  const appJvms = new AppJvms(deps.appPid);
  log.info(
    `watching memory every ${formatDuration(settings.checkEveryMs)} near the limit or while a JVM collects hard, every ${formatDuration(settings.checkEveryMs * RELAXED_FACTOR)} otherwise: ` +
      [
        cgroup ? `capture at ${settings.pressurePercent}% of the ${formatBytes(limit!)} limit in use (POSTMORTEM_MEMORY_PRESSURE)` : undefined,
        settings.gcSpiral !== 'off' ? `GC spiral at ${settings.gcSpiralPercent}% of ${formatDuration(settings.gcSpiralWindowMs)} in GC (${settings.gcSpiral === 'kill' ? 'then heap dump and kill' : 'capture only'})` : undefined,
      ].filter(Boolean).join('; '),
  );

  const capture = (reason: 'memory-pressure' | 'gc-spiral', run: (crash: Crash) => Promise<void>): Promise<void> => {
    const crash = deps.newCrash(reason);
    const task = run(crash)
      .catch((error: unknown) => log.error(`${reason} capture failed: ${error instanceof Error ? error.message : String(error)}`))
      .then(() => crash.finish({ logTail: deps.logTail() }))
      .then((report) => { if (report) log.info(`${reason} evidence: ${report.artifacts.length} stored, ${report.failed.length} failed (${crash.prefix})`); });
    captures.add(task);
    void task.finally(() => captures.delete(task));
    return task;
  };

  /** Below the threshold the check's one file is enough (usage bounds the non-reclaimable part): re-arms, and says no more is needed. */
  const pressureNear = (tick: MemoryTick): boolean => {
    const usage = tick.usage;
    if (!cgroup || usage === undefined || limit === undefined) return false;
    if (usage >= trigger.thresholdOf(limit)) return true;
    trigger.check({ usage, inactiveFile: 0, nonReclaimable: usage, limit }, Date.now()); // may re-arm
    return false;
  };

  const checkPressure = async (): Promise<void> => {
    if (!cgroup) return;
    const reading = await readMemory(cgroup);
    limit = reading.limit ?? limit;
    if (!trigger.check(reading, Date.now()) || reading.limit === undefined) return;
    const share = Math.round((100 * reading.nonReclaimable) / reading.limit);
    log.warn(`memory pressure: ${formatBytes(reading.nonReclaimable)} (${share}%) of the ${formatBytes(reading.limit)} limit in use and not reclaimable; capturing evidence while the app runs`);
    const pids = appJvms.find();
    await capture('memory-pressure', (crash) => captureLive({
      crash, appPid: deps.appPid, jvms: pids, config, log, heapDump: true, memoryHeadroom: reading.limit! - reading.nonReclaimable,
    }));
  };

  let lookedUp = 0;
  /** JVMs not watched yet, when a lookup is due: until one is found (it may start late) every check, then now and then. */
  const unwatchedJvms = (): number[] => {
    if (settings.gcSpiral === 'off' || (jvms.size > 0 && Date.now() - lookedUp < JVM_LOOKUP_MS)) return [];
    lookedUp = Date.now();
    return appJvms.find().filter((pid) => !jvms.has(pid));
  };

  const watchJvms = async (pids: number[]): Promise<void> => {
    const caller = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    for (const pid of pids) {
      const target = await inspectTarget(pid, caller).catch(() => undefined);
      const found = target && await findPerfData(target.tmpDir, target.nspid, target.uid);
      const counters = found && await GcCounterReader.open(found.file).catch(() => undefined);
      if (counters) jvms.set(pid, { counters, detector: new GcSpiralDetector(settings.gcSpiralWindowMs, settings.gcSpiralPercent), done: false });
    }
  };

  /** One pread of each watched JVM's GC counters; the JVMs whose window says spiral. */
  const sampleJvms = (): { pid: number; verdict: GcVerdict }[] => {
    const spiraling: { pid: number; verdict: GcVerdict }[] = [];
    let collecting = false;
    for (const [pid, jvm] of jvms) {
      if (jvm.done) continue;
      if (!alive(pid)) { jvms.delete(pid); void jvm.counters.close(); continue; }
      const verdict = jvm.detector.add(jvm.counters.sample());
      if ((jvm.detector.recentShare ?? 0) * 100 >= settings.gcSpiralPercent * GC_CLOSE_SHARE) collecting = true;
      if (!verdict?.spiral) continue;
      jvm.done = true; // one capture per JVM: a JVM in a spiral rarely recovers
      spiraling.push({ pid, verdict });
    }
    deps.memory.watchClosely('a JVM collecting garbage hard', collecting);
    return spiraling;
  };

  const captureSpiral = async (pid: number, verdict: GcVerdict): Promise<void> => {
    const kill = settings.gcSpiral === 'kill';
    log.warn(`GC death spiral: JVM ${pid} spent ${Math.round(verdict.share * 100)}% of the last ${Math.round(verdict.windowSeconds)} s collecting garbage (POSTMORTEM_GC_SPIRAL_THRESHOLD ${settings.gcSpiralPercent}%); capturing evidence${kill ? ', a heap dump, then killing it (POSTMORTEM_GC_SPIRAL=kill)' : ''}`);
    await capture('gc-spiral', async (crash) => {
      try {
        await captureLive({ crash, appPid: deps.appPid, jvms: [pid], config, log, heapDump: kill });
      } finally {
        if (kill) {
          log.warn(`killing JVM ${pid} (GC death spiral, POSTMORTEM_GC_SPIRAL=kill)`);
          try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
        }
      }
    });
  };

  let busy = false;
  let stopped = false;
  deps.memory.onTick((tick) => {
    if (busy || stopped) return; // a capture still running: the next check waits for it
    // The usual check is synchronous to the end: nothing near a threshold, no JVM to set up,
    // no spiral. Promises only when there is work (an idle check's cost is what it touches).
    const near = pressureNear(tick);
    const unwatched = unwatchedJvms();
    const spiraling = settings.gcSpiral === 'off' ? [] : sampleJvms();
    if (!near && unwatched.length === 0 && spiraling.length === 0) return;
    busy = true;
    void (async () => {
      if (near) await checkPressure();
      await watchJvms(unwatched);
      for (const { pid, verdict } of spiraling) await captureSpiral(pid, verdict);
    })()
      .catch((error: unknown) => log.warn(`memory check failed: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => { busy = false; });
  });
  return {
    stop: () => {
      stopped = true;
      for (const jvm of jvms.values()) void jvm.counters.close();
    },
    settled: noop.settled,
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
