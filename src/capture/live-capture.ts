// Evidence from an app that is still running (memory pressure, GC spiral, on demand): per JVM
// a thread dump, a class histogram and, when NMT is on, its native memory summary, all through
// the attach protocol; smaps_rollup of every process of the app; and a heap dump only when
// the disk (and, under memory pressure, the memory) can take it.
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Config } from '../config/types.ts';
import { formatBytes } from '../config/units.ts';
import type { ArtifactSpec } from '../store/pipeline.ts';
import type { EventLog } from '../util/event-log.ts';
import { heapDump, jcmd, threadDump } from './attach/hotspot.ts';
import type { Crash } from './crash.ts';
import { freeBytes } from './disk.ts';
import { followGrowingFile } from './growing-file.ts';
import { processTree } from './process-tree.ts';
import { streamingNeed } from './stream-room.ts';

/**
 * Below this much memory left under the limit, a heap dump's page cache could tip the container
 * over. Streaming the dump then grows the watchdog too, while the JVM still holds its memory:
 * that growth (stream-room.ts) is needed on top.
 */
export const HEAP_DUMP_MIN_HEADROOM = 32 * 1024 * 1024;
const ATTACH_TIMEOUT_MS = 30_000;

export interface LiveCaptureInput {
  crash: Crash;
  appPid: number;
  jvms: readonly number[];
  config: Config;
  log: EventLog;
  /** Whether a heap dump is wanted at all. */
  heapDump: boolean;
  /** Memory left below the container's limit, when memory is the question (pressure). */
  memoryHeadroom?: number;
}

export function textArtifact(name: string, text: string): ArtifactSpec {
  return { name, source: Readable.from([Buffer.from(text)]), contentType: 'text/plain; charset=utf-8', encoding: 'raw' };
}

export async function captureLive(input: LiveCaptureInput): Promise<void> {
  const { crash, log } = input;
  crash.add(textArtifact('smaps_rollup.txt', await smapsOfTree(input.appPid)));
  for (const pid of input.jvms) {
    const asked = async (what: string, name: string, get: () => Promise<string>): Promise<string | undefined> => {
      try {
        const text = await get();
        crash.add(textArtifact(name, text));
        return text;
      } catch (error) {
        log.warn(`no ${what} of JVM ${pid}: ${error instanceof Error ? error.message : String(error)}`);
        return undefined;
      }
    };
    await asked('thread dump', `threads-${pid}.txt`, () => threadDump(pid, { locks: true, timeoutMs: ATTACH_TIMEOUT_MS }));
    const histogram = await asked('class histogram', `class-histogram-${pid}.txt`, () => jcmd(pid, 'GC.class_histogram', { timeoutMs: ATTACH_TIMEOUT_MS }));
    const nmt = await jcmd(pid, 'VM.native_memory summary', { timeoutMs: ATTACH_TIMEOUT_MS }).catch(() => undefined);
    if (nmt && /Native Memory Tracking:/.test(nmt) && !/not enabled/i.test(nmt)) crash.add(textArtifact(`native-memory-${pid}.txt`, nmt));
    if (input.heapDump) {
      const live = histogramTotalBytes(histogram);
      const fits = await heapDumpFits(input.config, live, input.memoryHeadroom);
      if (fits.ok) await addHeapDump(crash, pid, input.config, log, 'live');
      else log.warn(`no heap dump of JVM ${pid}: ${fits.why}`);
    }
  }
}

/** "Total  <instances>  <bytes>" at the end of a class histogram. */
export function histogramTotalBytes(histogram: string | undefined): number | undefined {
  const match = /^Total\s+\d+\s+(\d+)\s*$/m.exec(histogram ?? '');
  return match ? Number(match[1]) : undefined;
}

async function heapDumpFits(config: Config, liveBytes: number | undefined, headroom: number | undefined): Promise<{ ok: true } | { ok: false; why: string }> {
  const streaming = streamingNeed(config.store, config.partSize, config.queueSize);
  if (headroom !== undefined && headroom < HEAP_DUMP_MIN_HEADROOM + streaming) {
    return { ok: false, why: `only ${formatBytes(headroom)} left below the memory limit (a dump's page cache needs ${formatBytes(HEAP_DUMP_MIN_HEADROOM)} and streaming it ${formatBytes(streaming)} more while the JVM runs)` };
  }
  if (liveBytes === undefined) return { ok: false, why: 'the heap size is unknown (no class histogram), so whether its dump fits on disk is too' };
  const free = await freeBytes(config.dumpDir);
  // A compressed dump is about a third of the live heap; a plain one a little more than it.
  const needs = config.gzipLevel > 0 ? Math.ceil(liveBytes / 2) : Math.ceil(liveBytes * 1.1);
  if (free === undefined) return { ok: false, why: `free disk space of ${config.dumpDir} is unknown` };
  if (free < needs) return { ok: false, why: `it needs about ${formatBytes(needs)} of disk, ${formatBytes(free)} is free in ${config.dumpDir}` };
  return { ok: true };
}

/** Has the JVM write a heap dump into our dump folder and streams it into the crash (deleted once stored). */
export async function addHeapDump(crash: Crash, pid: number, config: Config, log: EventLog, folderName: string): Promise<void> {
  const folder = path.join(config.dumpDir, folderName);
  await mkdir(folder, { recursive: true });
  const file = path.join(folder, `heap-${pid}-${Date.now()}.hprof`);
  log.info(`heap dump of JVM ${pid} to ${file} (the JVM pauses while it writes)`);
  const dump = await heapDump(pid, file, config.gzipLevel > 0 ? { gzipLevel: config.gzipLevel } : {});
  // Read as a crash's dump is read (finished already): each chunk goes back to the reader once
  // stored, so streaming it makes no garbage, here where the app is alive and may be near its limit.
  const followed = followGrowingFile(dump.localPath);
  followed.complete();
  crash.add({
    name: dump.compressed ? 'heap.hprof.gz' : 'heap.hprof',
    source: followed.stream,
    release: followed.release,
    contentType: 'application/octet-stream',
    encoding: dump.compressed ? 'already-gzip' : config.gzipLevel > 0 ? 'compress' : 'raw',
    gzipLevel: config.gzipLevel,
  }, { localPath: dump.localPath, big: true });
}

/** smaps_rollup (the kernel's per-process memory summary) of the app and its descendants. */
async function smapsOfTree(root: number): Promise<string> {
  const sections: string[] = [];
  for (const pid of await processTree(root)) {
    const [cmdline, rollup] = await Promise.all([
      readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
      readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch((error: unknown) => `(unreadable: ${error instanceof Error ? error.message : String(error)})\n`),
    ]);
    sections.push(`== pid ${pid}: ${cmdline.replace(/\0/g, ' ').trim().slice(0, 300)}\n${rollup}`);
  }
  return sections.join('\n');
}
