// Issue 13: a heap dump's class histogram, computed from the bytes on their way to the store
// (the content observer of the dump's one pass, src/store/pipeline.ts), written beside the
// dump as histogram.json, and summed up in the report. Nothing here may fail the upload: the
// parser never throws, and a histogram that cannot be stored is a logged failure of its own.
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

export class HeapHistogramTap {
  readonly #parser = new HprofParser();
  readonly observe = (chunk: Buffer): void => this.#parser.push(chunk);

  private constructor(readonly artifact: string) {}

  /** A tap for heap dump artifacts, undefined for the rest. */
  static for(artifactName: string): HeapHistogramTap | undefined {
    return HEAP_ARTIFACT.test(artifactName) ? new HeapHistogramTap(artifactName) : undefined;
  }

  /** Bytes seen: 0 when the dump was never read (skipped by the crash-loop limit). */
  get bytesRead(): number {
    return this.#parser.bytesRead;
  }

  /** Whether the content began like an HPROF dump (else there is no histogram to speak of). */
  get recognized(): boolean {
    return this.#parser.idSize > 0;
  }

  /** The histogram of what went by; `uploadError` says why the stream may have stopped early. */
  result(uploadError?: string): HeapHistogram {
    this.#parser.end();
    const histogram = histogramOf(this.#parser);
    if (histogram.complete || uploadError === undefined) return histogram;
    return { ...histogram, reason: `${histogram.reason ?? 'incomplete'} (the upload stopped: ${uploadError})` };
  }

  /** `histogram.json` for heap.hprof(.gz), `histogram-2.json` for heap-2.hprof(.gz). */
  get fileName(): string {
    const n = /^heap-(\d+)/.exec(this.artifact)?.[1];
    return n ? `histogram-${n}.json` : 'histogram.json';
  }
}

/** Stores histogram.json beside the dump; returns its record (for the report's artifacts) and the summary. */
export async function storeHistogram(
  store: Store,
  crashPrefix: string,
  { tap, artifact, uploadError, signal }: { tap: HeapHistogramTap; artifact: string; uploadError?: string | undefined; signal?: AbortSignal },
): Promise<{ record?: ArtifactRecord; summary: HistogramSummary; error?: string }> {
  const histogram = tap.result(uploadError);
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
