// What the watchdog watches while the app runs, feeding one ObservedState: the app's output
// (log tail, the JVM's words, listeners such as thread dumps) and the evidence files that
// appear (heap dumps, hs_err logs, cores), each streamed into the crash it belongs to.
// The container's memory cgroup is watched here too (memory-watch.ts): its limit at start, one
// low-rate tick, and its OOM-kill counters after a SIGKILL.
import type { Config } from '../config/types.ts';
import type { CrashSlot } from '../capture/crash.ts';
import { usableCompression } from '../store/compression-choice.ts';
import { EvidenceWatch, REASON_OF } from '../capture/evidence.ts';
import type { EvidenceFolder, FolderSnapshot } from '../capture/evidence-folders.ts';
import type { MemoryAtStart } from '../capture/container-memory.ts';
import { LogTail } from '../capture/log-tail.ts';
import { roomToStream, streamingNeed } from '../capture/stream-room.ts';
import { ObservedState } from '../capture/observed.ts';
import type { EventLog } from '../util/event-log.ts';
import { watchContainerMemory, type MemoryWatch } from './memory-watch.ts';
import { OutputScanner } from './output-scanner.ts';

export interface Observation {
  observed: ObservedState;
  tail: LogTail;
  /** The one memory tick: the container-OOM account here, the pressure and GC spiral watch beside it. */
  memory: MemoryWatch;
  /** Every chunk of the app's output goes here, after it was passed through. */
  onOutput(chunk: Buffer): void;
  /** Subscribes to the app's output; returns an unsubscribe function. */
  watchOutput(fn: (chunk: Buffer) => void): () => void;
  /** The app runs as this pid: its process tree is sampled for memory from now on. */
  follow(pid: number): void;
  /** The app is gone: last words read, evidence files completed, memory counters read. */
  appExited(how: { exitCode?: number; signal?: string }, at: Date): Promise<void>;
  close(): Promise<void>;
}

export interface ObserveInput {
  config: Config;
  log: EventLog;
  folders: EvidenceFolder[];
  /** What the folders held before the app was spawned (evidence-folders.ts). */
  before?: FolderSnapshot;
  crashes: CrashSlot;
  appAlive: () => boolean;
  /** The state to fill in; made before the spawn, so a stop during the watch's start is in it. */
  observed?: ObservedState;
  /** The memory cgroup's counters read before the spawn (the OOM-kill account starts there). */
  memoryAtStart?: MemoryAtStart | undefined;
}

export async function observe(input: ObserveInput): Promise<Observation> {
  const { config, crashes } = input;
  const observed = input.observed ?? new ObservedState();
  const tail = new LogTail(config.logTailBytes);
  const listeners = new Set<(chunk: Buffer) => void>();
  // A dump streams while it is written only if the container has room for our growth.
  const cgroup = input.memoryAtStart?.cgroup;
  const need = streamingNeed(config.store, config.partSize, config.queueSize);
  const evidence = new EvidenceWatch({
    folders: input.folders,
    ...(input.before ? { before: input.before } : {}),
    log: input.log,
    gzipLevel: config.gzipLevel,
    dumpDiskLimit: config.dumpDiskLimit,
    compression: usableCompression(config.compression, input.log),
    crashFor: (kind) => crashes.for(REASON_OF[kind]),
    onEvidence: (kind) => {
      if (kind === 'heap') observed.outOfMemory = true;
      if (kind === 'fatal-error-log') observed.fatalError = true;
    },
    ...(cgroup ? { roomToStream: () => roomToStream(cgroup, need) } : {}),
    onLateHeapDump: () => crashes.finishIfSurvived(input.appAlive, () => tail.snapshot()),
  });
  await evidence.start();
  const memoryWatch = await watchContainerMemory(input.log, { everyMs: config.memoryWatch.checkEveryMs, pressurePercent: config.memoryWatch.pressurePercent, atStart: input.memoryAtStart });
  const scanner = new OutputScanner((event) => {
    evidence.jvmSaid(event); // the JVM's word on each dump it writes: complete or not
    if (event.kind === 'out-of-memory') {
      observed.outOfMemory = true;
      observed.oomMessage ??= event.message;
      memoryWatch.sampleNow(); // what each process held when the JVM ran out
    }
    if (event.kind === 'heap-dump-started' || event.kind === 'heap-dump-written') observed.heapDumpUnfinished = event.kind === 'heap-dump-started';
    if (event.kind === 'fatal-error') observed.fatalError = true;
    if (event.kind === 'heap-dump-written' || event.kind === 'heap-dump-failed') {
      crashes.finishIfSurvived(input.appAlive, () => tail.snapshot());
    }
  });
  return {
    observed,
    tail,
    memory: memoryWatch,
    onOutput(chunk) {
      tail.push(chunk);
      scanner.feed(chunk);
      for (const listener of listeners) listener(chunk);
    },
    watchOutput(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    follow: (pid) => memoryWatch.follow(pid),
    async appExited(how, at) {
      observed.ended(how, at);
      scanner.flush();
      observed.memory = await memoryWatch.afterDeath(how.signal).catch(() => undefined);
      await evidence.appExited();
    },
    close: async () => {
      memoryWatch.stop();
      await evidence.close();
    },
  };
}
