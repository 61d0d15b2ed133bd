// The shape of a result row, how it is judged against its target, and the two outputs:
// bench/results.md (a table a person reads) and bench/results.json (everything, raw runs too).
import { writeFile } from 'node:fs/promises';
import { formatBytes, formatRate, formatSeconds, round } from './stats.ts';
import type { Machine } from './machine.ts';

export type Unit = 'ms' | 'cpu-ms' | 'bytes' | 'bytes/s' | 's/GiB' | 'lines/s' | 'ticks' | 'per-minute' | 'x';

/** What a row must reach: its ratio (ours / reference) or our own value, at most or at least `value`. */
export interface Target {
  on: 'ratio' | 'ours';
  op: '<=' | '>=';
  value: number;
}

export interface Row {
  id: string;
  group: string;
  measurement: string;
  unit: Unit;
  ours: number;
  reference?: number;
  referenceLabel?: string;
  /** ours / reference. */
  ratio?: number;
  target?: Target;
  met?: boolean;
  /** Every run, in the order they ran (medians are taken over these). */
  runs?: { ours: number[]; reference?: number[] };
  note?: string;
}

export interface RowInput {
  id: string;
  group: string;
  measurement: string;
  unit: Unit;
  ours: number;
  reference?: number | undefined;
  referenceLabel?: string;
  target?: Target;
  runs?: { ours: number[]; reference?: number[] };
  note?: string;
}

export function row(input: RowInput): Row {
  const { reference, ...rest } = input;
  const r: Row = { ...rest };
  if (reference !== undefined) {
    r.reference = reference;
    if (reference !== 0) r.ratio = input.ours / reference;
  }
  if (input.target) {
    const subject = input.target.on === 'ratio' ? r.ratio : r.ours;
    if (subject !== undefined && Number.isFinite(subject)) {
      r.met = input.target.op === '<=' ? subject <= input.target.value : subject >= input.target.value;
    }
  }
  return r;
}

export function formatValue(value: number, unit: Unit): string {
  switch (unit) {
    case 'ms': return formatSeconds(value);
    case 'cpu-ms': return `${value.toFixed(1)} ms`;
    case 'bytes': return formatBytes(value);
    case 'bytes/s': return formatRate(value);
    case 's/GiB': return `${value.toFixed(2)} s/GiB`;
    case 'lines/s': return `${(value / 1e6).toFixed(2)} M lines/s`;
    case 'ticks': return `${Math.round(value)} ticks`;
    case 'per-minute': return `${value.toFixed(1)} /min`;
    case 'x': return `${value.toFixed(3)}`;
  }
}

function formatTarget(row: Row): string {
  const t = row.target;
  if (!t) return '—';
  const op = t.op === '<=' ? '≤' : '≥';
  return t.on === 'ratio' ? `${op} ${t.value}x` : `${op} ${formatValue(t.value, row.unit)}`;
}

/** How far a missed row is from its target, in its own terms. */
export function shortfall(r: Row): string {
  const t = r.target;
  if (!t) return '';
  const subject = t.on === 'ratio' ? r.ratio : r.ours;
  if (subject === undefined) return 'not measurable';
  const shown = t.on === 'ratio' ? `${subject.toFixed(2)}x` : formatValue(subject, r.unit);
  const goal = t.on === 'ratio' ? `${t.value}x` : formatValue(t.value, r.unit);
  if (r.met !== false || subject === 0) return `${shown} against ${goal}`;
  const change = t.op === '<='
    ? `${Math.round((1 - t.value / subject) * 100)}% less would meet it`
    : `${Math.round((t.value / subject - 1) * 100)}% more would meet it`;
  return `${shown} against ${t.op === '<=' ? '≤' : '≥'} ${goal}: ${change}`;
}

export interface Results {
  suite: 'postmortem-buildpack bench';
  quick: boolean;
  startedAt: string;
  durationS: number;
  machine: Machine;
  rows: Row[];
  /** Measurements that could not run, with why. */
  failures: { measurement: string; error: string }[];
  notes: string[];
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderMarkdown(results: Results): string {
  const m = results.machine;
  const lines: string[] = [];
  lines.push(`# Benchmark results${results.quick ? ' (BENCH_QUICK=1: smaller sizes, shorter windows)' : ''}`);
  lines.push('');
  lines.push(`Written by \`npm run bench\` on ${results.startedAt} in ${Math.round(results.durationS)} s. Every figure is the median of the runs listed in results.json; ours and the reference alternate within one invocation; ratio = ours / reference.`);
  lines.push('');
  lines.push(`Machine: ${m.cores} cores (${m.cpuModel}), ${formatBytes(m.memoryBytes)} memory, kernel ${m.kernel}, load average ${m.loadAverageStart.map((l) => l.toFixed(2)).join(' ')} at start and ${m.loadAverageEnd.map((l) => l.toFixed(2)).join(' ')} at end; bench on Node.js ${m.benchNode}, watchdog on Node.js ${m.runtimeNode}; ${m.java}; ${m.rclone}; ${m.awscli}; ${m.ceph}.`);
  lines.push('');
  lines.push('| measurement | ours | reference | ratio | target | met? |');
  lines.push('|---|---|---|---|---|---|');
  let group = '';
  for (const r of results.rows) {
    if (r.group !== group) {
      group = r.group;
      lines.push(`| **${cell(group)}** | | | | | |`);
    }
    const reference = r.reference !== undefined ? `${formatValue(r.reference, r.unit)}${r.referenceLabel ? ` (${r.referenceLabel})` : ''}` : r.referenceLabel ?? '—';
    const ratio = r.ratio !== undefined ? `${r.ratio.toFixed(2)}x` : '—';
    const met = r.met === undefined ? '—' : r.met ? 'yes' : '**no**';
    lines.push(`| ${cell(r.measurement)} | ${formatValue(r.ours, r.unit)} | ${cell(reference)} | ${ratio} | ${formatTarget(r)} | ${met} |`);
  }
  const missed = results.rows.filter((r) => r.met === false);
  if (missed.length > 0) {
    lines.push('');
    lines.push('## Missed targets, by how much');
    lines.push('');
    for (const r of missed) lines.push(`- ${cell(r.measurement)}: ${shortfall(r)}`);
    lines.push('');
    lines.push('Why, and what in src/ would close each gap: bench/README.md.');
  }
  const withNotes = results.rows.filter((r) => r.note);
  if (withNotes.length > 0 || results.notes.length > 0) {
    lines.push('');
    lines.push('## Notes');
    lines.push('');
    for (const n of results.notes) lines.push(`- ${n}`);
    for (const r of withNotes) lines.push(`- ${r.measurement}: ${r.note}`);
  }
  if (results.failures.length > 0) {
    lines.push('');
    lines.push('## Not measured');
    lines.push('');
    for (const f of results.failures) lines.push(`- ${f.measurement}: ${f.error.split('\n')[0]}`);
  }
  lines.push('');
  return lines.join('\n');
}

export async function writeResults(results: Results, mdPath: string, jsonPath: string): Promise<void> {
  const rounded = { ...results, rows: results.rows.map((r) => ({ ...r, ...(r.ratio !== undefined ? { ratio: round(r.ratio) } : {}) })) };
  await writeFile(jsonPath, `${JSON.stringify(rounded, null, 2)}\n`);
  await writeFile(mdPath, renderMarkdown(results));
}
