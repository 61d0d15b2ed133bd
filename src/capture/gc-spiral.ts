// A JVM in a GC death spiral spends nearly all its time collecting without ever throwing
// OutOfMemoryError (what jvmquake watches for). Its own counters in hsperfdata say so without
// attaching: the sum of sun.gc.collector.<n>.time against sun.os.hrt.ticks (both in ticks of
// the same high-resolution clock), taken over a sliding window.
import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { parsePerfData, type PerfValue } from './attach/perfdata.ts';

const MAX_PERF_FILE = 4 * 1024 * 1024;
const COLLECTOR_TIME = /^sun\.gc\.collector\.\d+\.time$/;

export interface GcSample {
  /** sun.os.hrt.ticks: the JVM's clock. */
  ticks: bigint;
  /** Sum of every collector's accumulated time, in the same ticks. */
  gcTicks: bigint;
  /** sun.os.hrt.frequency: ticks per second. */
  frequency: bigint;
}

export function gcSample(entries: Map<string, PerfValue>): GcSample | undefined {
  const ticks = entries.get('sun.os.hrt.ticks');
  const frequency = entries.get('sun.os.hrt.frequency');
  if (typeof ticks !== 'bigint' || typeof frequency !== 'bigint' || frequency <= 0n) return undefined;
  let gcTicks = 0n;
  let collectors = 0;
  for (const [name, value] of entries) {
    if (COLLECTOR_TIME.test(name) && typeof value === 'bigint') { gcTicks += value; collectors += 1; }
  }
  return collectors > 0 ? { ticks, gcTicks, frequency } : undefined;
}

export interface GcVerdict {
  /** Share of the window spent in GC, 0-1 (collectors may overlap in concurrent GCs: capped at 1). */
  share: number;
  windowSeconds: number;
  spiral: boolean;
}

/** Keeps the samples of one JVM that cover the last window; judges once a full window is covered. */
export class GcSpiralDetector {
  private readonly samples: GcSample[] = [];

  constructor(private readonly windowMs: number, private readonly percent: number) {}

  /** Share of the time in GC between the last two samples (the watch checks more often when it is high). */
  recentShare: number | undefined;

  add(sample: GcSample): GcVerdict | undefined {
    const last = this.samples.at(-1);
    // A restarted JVM with the same pid, or a clock that went back: start over.
    if (last && (sample.ticks <= last.ticks || sample.gcTicks < last.gcTicks)) this.samples.length = 0;
    const previous = this.samples.at(-1);
    this.recentShare = previous ? Math.min(1, Number(sample.gcTicks - previous.gcTicks) / Number(sample.ticks - previous.ticks)) : undefined;
    this.samples.push(sample);
    const windowTicks = (BigInt(this.windowMs) * sample.frequency) / 1000n;
    // Drop samples while the next one still covers the window.
    while (this.samples.length > 2 && sample.ticks - this.samples[1]!.ticks >= windowTicks) this.samples.shift();
    const first = this.samples[0]!;
    const span = sample.ticks - first.ticks;
    if (span < windowTicks || span <= 0n) return undefined;
    const share = Math.min(1, Number(sample.gcTicks - first.gcTicks) / Number(span));
    return { share, windowSeconds: Number(span) / Number(sample.frequency), spiral: share * 100 >= this.percent };
  }

  /** After a capture: judge the next window afresh. */
  reset(): void {
    this.samples.length = 0;
    this.recentShare = undefined;
  }
}

/**
 * Reads one JVM's GC counters again and again at the cost of one small pread: the file is
 * parsed once to learn where the counters live (they never move), then only that span is read.
 */
export class GcCounterReader {
  private constructor(
    private readonly handle: FileHandle,
    private readonly span: Buffer,
    private readonly from: number,
    private readonly little: boolean,
    private readonly ticksAt: number,
    private readonly collectorsAt: number[],
    private readonly frequency: bigint,
  ) {}

  /** undefined when the file is no hsperfdata or has no GC counters. */
  static async open(file: string): Promise<GcCounterReader | undefined> {
    const handle = await open(file, 'r');
    try {
      const whole = Buffer.alloc(Math.min((await handle.stat()).size, MAX_PERF_FILE));
      await handle.read(whole, 0, whole.length, 0);
      const offsets = new Map<string, number>();
      const entries = parsePerfData(whole, offsets);
      const frequency = entries?.get('sun.os.hrt.frequency');
      const ticksAt = offsets.get('sun.os.hrt.ticks');
      const collectorsAt = [...offsets].filter(([name]) => COLLECTOR_TIME.test(name)).map(([, at]) => at);
      if (typeof frequency !== 'bigint' || frequency <= 0n || ticksAt === undefined || collectorsAt.length === 0) {
        await handle.close();
        return undefined;
      }
      const from = Math.min(ticksAt, ...collectorsAt);
      const to = Math.max(ticksAt, ...collectorsAt) + 8;
      return new GcCounterReader(handle, Buffer.alloc(to - from), from, whole[4] === 1, ticksAt, collectorsAt, frequency);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Synchronous on purpose: the file is in memory (the JVM maps it), and no worker thread wakes. */
  sample(): GcSample {
    readSync(this.handle.fd, this.span, 0, this.span.length, this.from);
    const at = (offset: number) => (this.little ? this.span.readBigInt64LE(offset - this.from) : this.span.readBigInt64BE(offset - this.from));
    let gcTicks = 0n;
    for (const offset of this.collectorsAt) gcTicks += at(offset);
    return { ticks: at(this.ticksAt), gcTicks, frequency: this.frequency };
  }

  close(): Promise<void> {
    return this.handle.close().catch(() => undefined);
  }
}
