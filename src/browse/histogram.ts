// `postmortem show`: the top of a crash's heap histogram (issue 13), from report.json. The
// report comes from a bucket: every field is checked before use, nothing is assumed.
import { formatBytes } from '../config/units.ts';

const SHOWN = 10;

interface Entry { name: string; instances: number; bytes: number }

function isEntry(value: unknown): value is Entry {
  const e = value as Partial<Entry> | null;
  return typeof e === 'object' && e !== null && typeof e.name === 'string' && typeof e.instances === 'number' && typeof e.bytes === 'number';
}

/** Lines for the report's first heap histogram; none when the report has none. */
export function histogramLines(report: unknown): string[] {
  const list = (report as { heapHistograms?: unknown } | null)?.heapHistograms;
  const first = Array.isArray(list) ? (list[0] as { artifact?: unknown; complete?: unknown; reason?: unknown; top?: unknown; outOfMemoryThread?: { name?: unknown } | null } | undefined) : undefined;
  if (!first || !Array.isArray(first.top)) return [];
  const top = first.top.filter(isEntry).slice(0, SHOWN);
  const state = first.complete === false ? ` INCOMPLETE: ${String(first.reason ?? 'the dump was not read to its end')}` : '';
  const thrower = typeof first.outOfMemoryThread?.name === 'string' ? [`  OutOfMemoryError thrown in thread "${first.outOfMemoryThread.name}"`] : [];
  return [
    `heap histogram of ${String(first.artifact ?? 'the heap dump')} (top ${top.length}; all in histogram.json)${state}:`,
    ...top.map((e, i) => `  ${String(i + 1).padStart(2)}. ${formatBytes(e.bytes).padStart(10)} ${String(e.instances).padStart(11)}  ${e.name}`),
    ...thrower,
  ];
}
