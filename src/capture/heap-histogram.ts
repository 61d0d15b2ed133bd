// Issue 13: a heap dump's class histogram, computed from the bytes on their way to the store
// (the content observer of the dump's one pass, src/store/pipeline.ts), written beside the
// dump as histogram.json, and summed up in the report. Nothing here may fail the upload: the
// parser never throws, and a histogram that cannot be stored is a logged failure of its own.
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Store } from '../store/store.ts';
import { storeJson, type ArtifactRecord } from '../store/pipeline.ts';
import { HprofParser } from './hprof/parser.ts';
import { histogramOf, topEntries, type HeapHistogram, type HistogramEntry, type StackFrame } from './hprof/histogram.ts';

const HEAP_ARTIFACT = /^heap(-\d+)?\.hprof(\.gz)?$/;
export const TOP_ENTRIES = 20;
/** Frames of the throwing thread kept in the report (the full stacks are in histogram.json). */
const REPORT_FRAMES = 40;

/** What the report carries of one heap dump's histogram. */
export interface HistogramSummary {
  /** The heap dump artifact it was computed from, as stored (heap.hprof.gz). */
  artifact: string;
  /** Where the whole histogram is (inside the crash folder); null when it could not be stored. */
  file: string | null;
  complete: boolean;
  reason?: string;
  totals: HeapHistogram['totals'];
  top: HistogramEntry[];
  /** The thread that threw OutOfMemoryError: which one, from the dump; its name, from the JVM's output. */
  outOfMemoryThread: { serial: number | null; name: string | null; nameFrom: 'jvm-output' | null; frames: StackFrame[] } | null;
}

/**
 * Bytes handed to the parser's thread and not yet parsed; past it the upload waits (bounded
 * memory). 1 MiB (4 buffers) parses a 336 MiB dump as fast as 4 MiB did and holds ~4 MiB less.
 */
const MAX_IN_FLIGHT = 1024 * 1024;
/**
 * The thread's own heap: the name table (DEFAULT_NAME_BUDGET), counters and frames fit; a small
 * young generation frees the chunks it was handed soon. Past the limit the thread is stopped and
 * the histogram says so (the watchdog's memory counts against the app's).
 */
const WORKER_LIMITS = { maxOldGenerationSizeMb: 96, maxYoungGenerationSizeMb: 4 };
const FINISH_TIMEOUT_MS = 30_000;
const STALL_MS = 10_000;
/**
 * Content goes to the thread in buffers of this size, filled by copying chunks into them: the
 * gunzipped content comes in 16 KiB chunks, and one buffer (and one message) per chunk cost
 * both memory (4 MiB in flight were 256 buffers) and CPU (a message per 16 KiB).
 */
const BATCH = 256 * 1024;
const POOL_SIZE = 4;

/**
 * Sees a heap dump's content on its way to the store. The parser runs inline, or in a worker
 * thread when given one (beside the upload, on the other core). Either way it never
 * throws into the pipeline: a failed worker leaves an incomplete histogram with the reason.
 */
export class HeapHistogramTap {
  #parser: HprofParser | undefined;
  #worker: Worker | undefined;
  #workerError: string | undefined;
  #inFlight = 0;
  /** Buffers the thread handed back: chunks are copied into them, so memory stays at what is in flight. */
  readonly #pool: ArrayBuffer[] = [];
  /** The buffer being filled, and how far. */
  #filling: ArrayBuffer | undefined;
  #filled = 0;
  #waiting: (() => void) | undefined;
  #result: Promise<HeapHistogram> | undefined;
  #resolve: ((h: HeapHistogram) => void) | undefined;
  #bytes = 0;
  /** The thread to start on the first chunk, when that chunk looks like HPROF. */
  #workerFile: URL | undefined;
  #threadStarted = false;

  private constructor(readonly artifact: string, workerFile: URL | undefined) {
    this.#workerFile = workerFile;
    if (!workerFile) this.#parser = new HprofParser();
  }

  /**
   * On the first chunk: a thread (a V8 isolate: 15-35 MiB) only for content that starts like
   * HPROF; anything else goes to the inline parser, which gives up at the header and then
   * ignores the rest at no cost.
   */
  #begin(first: Buffer): void {
    const file = this.#workerFile;
    this.#workerFile = undefined;
    if (file && looksLikeHprof(first)) {
      try {
        this.#startWorker(file);
        return;
      } catch {
        // no thread to be had: parse inline
      }
    }
    this.#parser = new HprofParser();
  }

  /**
   * A tap for heap dump artifacts, undefined for the rest. The parser runs inline unless
   * `workerFile` (lib/hprof-worker.mjs) is given: the watchdog parses inline (issues 10/12: the
   * thread's isolate cost 22 MiB of peak RSS in the crash bench, the parse ~1 s of CPU per GiB,
   * and crash -> stored was no slower without it on 2 cores, where gzip already uses both).
   */
  static for(artifactName: string, options: { workerFile?: URL | null } = {}): HeapHistogramTap | undefined {
    if (!HEAP_ARTIFACT.test(artifactName)) return undefined;
    return new HeapHistogramTap(artifactName, options.workerFile ?? undefined);
  }

  /** lib/hprof-worker.mjs beside the watchdog's bundle (POSTMORTEM_HISTOGRAM_THREAD=true), if it is there. */
  static bundledWorker(): URL | undefined {
    for (const relative of ['./hprof-worker.mjs', '../hprof-worker.mjs']) {
      const url = new URL(relative, import.meta.url);
      if (url.protocol === 'file:' && existsSync(url)) return url;
    }
    return undefined;
  }

  #startWorker(file: URL): void {
    const worker = new Worker(file, { resourceLimits: WORKER_LIMITS });
    worker.unref();
    this.#result = new Promise((resolve) => (this.#resolve = resolve));
    worker.on('message', (message: { ack?: number; buffer?: ArrayBuffer; histogram?: HeapHistogram }) => {
      if (message.ack !== undefined) {
        this.#inFlight -= message.ack;
        if (message.buffer && this.#pool.length < POOL_SIZE) this.#pool.push(message.buffer);
        if (this.#inFlight <= MAX_IN_FLIGHT / 2) this.#release();
      } else if (message.histogram) {
        // At the end, or early when the parser gave up: nothing more is sent, the thread's memory goes.
        this.#resolve?.(message.histogram);
        this.#worker = undefined;
        this.#release();
        void worker.terminate();
      }
    });
    worker.on('error', (error) => this.#giveUp(error.message));
    worker.on('exit', (code) => { if (this.#worker) this.#giveUp(`it exited (${code}) before the end of the dump`); });
    this.#worker = worker;
    this.#threadStarted = true;
  }

  /** The thread failed or stalled: the upload goes on without it, the histogram says why. */
  #giveUp(why: string): void {
    this.#workerError ??= why;
    this.#release();
    this.#resolve?.(failedHistogram(`the parser's thread failed: ${this.#workerError}`, this.#bytes));
    void this.#worker?.terminate();
  }

  #release(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }

  /** The content observer: a promise when the parser's thread is behind (the stream waits for it). */
  readonly observe = (chunk: Buffer): Promise<void> | undefined => {
    if (this.#workerFile) this.#begin(chunk);
    this.#bytes += chunk.length;
    if (this.#parser) {
      this.#parser.push(chunk);
      return undefined;
    }
    if (this.#workerError !== undefined || !this.#worker) return undefined;
    for (let from = 0; from < chunk.length;) {
      this.#filling ??= this.#pool.pop() ?? new ArrayBuffer(BATCH);
      const n = Math.min(BATCH - this.#filled, chunk.length - from);
      new Uint8Array(this.#filling, this.#filled, n).set(chunk.subarray(from, from + n));
      this.#filled += n;
      from += n;
      if (this.#filled === BATCH) this.#send();
    }
    if (this.#inFlight <= MAX_IN_FLIGHT) return undefined;
    return new Promise((resolve) => {
      // A thread that stops answering must never hold the upload.
      const timer = setTimeout(() => this.#giveUp(`it made no progress for ${STALL_MS / 1000} s`), STALL_MS);
      timer.unref();
      this.#waiting = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  };

  /** Hands the filled buffer to the thread (transferred, not copied). */
  #send(): void {
    const buffer = this.#filling;
    if (!buffer || this.#filled === 0 || !this.#worker) return;
    this.#worker.postMessage({ buffer, length: this.#filled }, [buffer]);
    this.#inFlight += this.#filled;
    this.#filling = undefined;
    this.#filled = 0;
  }

  /** Bytes seen: 0 when the dump was never read (skipped by the crash-loop limit). */
  get bytesRead(): number {
    return this.#bytes;
  }

  /** Whether the parser ran (or, before the first chunk, will run) in its own thread. */
  get threaded(): boolean {
    return this.#threadStarted || this.#workerFile !== undefined;
  }

  /** Whether that thread still takes content (false once it gave up, failed or finished). */
  get threadRunning(): boolean {
    return this.#worker !== undefined;
  }

  /** The histogram of what went by; `uploadError` says why the stream may have stopped early. */
  async finish(uploadError?: string): Promise<HeapHistogram> {
    if (this.#workerFile) this.#begin(Buffer.alloc(0)); // nothing went by: the inline parser says so
    let histogram: HeapHistogram;
    if (this.#parser) {
      this.#parser.end();
      histogram = histogramOf(this.#parser);
    } else {
      if (this.#workerError === undefined) {
        this.#send();
        this.#worker?.postMessage({ end: true });
      }
      // At most MAX_IN_FLIGHT is left to parse: a thread that does not answer in time is given up on.
      const timer = setTimeout(() => this.#resolve?.(failedHistogram(`the parser's thread did not answer within ${FINISH_TIMEOUT_MS / 1000} s`, this.#bytes)), FINISH_TIMEOUT_MS);
      timer.unref();
      histogram = await this.#result!;
      clearTimeout(timer);
      void this.#worker?.terminate();
    }
    if (histogram.complete || uploadError === undefined) return histogram;
    return { ...histogram, reason: `${histogram.reason ?? 'incomplete'} (the upload stopped: ${uploadError})` };
  }

  /** `histogram.json` for heap.hprof(.gz), `histogram-2.json` for heap-2.hprof(.gz). */
  get fileName(): string {
    const n = /^heap-(\d+)/.exec(this.artifact)?.[1];
    return n ? `histogram-${n}.json` : 'histogram.json';
  }
}

const HPROF_MAGIC = Buffer.from('JAVA PROFILE ', 'latin1');

/** Whether a dump's first bytes can be the HPROF header (a first chunk shorter than it is given the benefit of the doubt). */
function looksLikeHprof(first: Buffer): boolean {
  const n = Math.min(first.length, HPROF_MAGIC.length);
  return n > 0 && first.subarray(0, n).equals(HPROF_MAGIC.subarray(0, n));
}

function failedHistogram(reason: string, bytes: number): HeapHistogram {
  const parser = new HprofParser();
  parser.failure = reason;
  parser.bytesRead = bytes;
  return histogramOf(parser);
}

/** Stores histogram.json beside the dump; returns its record (for the report's artifacts) and the summary. */
export async function storeHistogram(
  store: Store,
  crashPrefix: string,
  { tap, artifact, uploadError, signal }: { tap: HeapHistogramTap; artifact: string; uploadError?: string | undefined; signal?: AbortSignal },
): Promise<{ record?: ArtifactRecord; summary?: HistogramSummary; error?: string; skipped?: string }> {
  const histogram = await tap.finish(uploadError);
  // Content that never looked like HPROF (or a parser that never started) has no histogram to store.
  if (histogram.format.identifierSize === 0) return { skipped: histogram.reason ?? 'not an HPROF dump' };
  const summary: HistogramSummary = {
    artifact,
    file: null,
    complete: histogram.complete,
    ...(histogram.reason !== undefined ? { reason: histogram.reason } : {}),
    totals: histogram.totals,
    top: topEntries(histogram, TOP_ENTRIES),
    outOfMemoryThread: throwerOf(histogram),
  };
  try {
    const record = await storeJson(store, `${crashPrefix}/${tap.fileName}`, histogram, signal ? { signal } : {});
    return { record, summary: { ...summary, file: tap.fileName } };
  } catch (error) {
    return { summary, error: error instanceof Error ? error.message : String(error) };
  }
}

function throwerOf(histogram: HeapHistogram): HistogramSummary['outOfMemoryThread'] {
  const thread = histogram.threads.find((t) => t.threwOutOfMemoryError);
  if (!thread) return null;
  return { serial: thread.serial, name: null, nameFrom: null, frames: thread.frames.slice(0, REPORT_FRAMES) };
}

/**
 * The dump tells which thread threw (HotSpot puts a frame OutOfMemoryError.<init> on top of its
 * stack) but not its name (that is a field of the Thread object, which a streaming pass does
 * not resolve). The JVM prints the name: `Exception in thread "X" java.lang.OutOfMemoryError`.
 */
export function threadNameFromOutput(output: string): string | undefined {
  const matches = [...output.matchAll(/Exception in thread "([^"\n]{1,200})" java\.lang\.OutOfMemoryError/g)];
  return matches.at(-1)?.[1];
}

/** Adds the thrower's name from the JVM's output to the summaries (when there is one to name). */
export function nameThrowers(summaries: HistogramSummary[], output: string | undefined): HistogramSummary[] {
  const name = output === undefined ? undefined : threadNameFromOutput(output);
  if (name === undefined) return summaries;
  return summaries.map((s) => ({
    ...s,
    outOfMemoryThread: { serial: s.outOfMemoryThread?.serial ?? null, frames: s.outOfMemoryThread?.frames ?? [], name, nameFrom: 'jvm-output' },
  }));
}
