// 8. Heap histogram (issue 13): the parser's cost on the real heap dump of measurement 1.
//    - the parser alone over the whole dump (in the page cache), against the pace it must keep
//      up with: our gzip level 1 upload of the same file (the watchdog's default path);
//    - the upload with the histogram observing the pass (as the watchdog does for a heap dump)
//      against the same upload without it: the wall time the histogram adds.
//    All three run as the bundled client on the droplet's Node.js with the watchdog's flags, in
//    rotated order each round.
import { stat } from 'node:fs/promises';
import type { Bench } from '../lib/context.ts';
import { row, type Row } from '../lib/results.ts';
import { formatBytes, formatRate, formatSeconds, median } from '../lib/stats.ts';
import type { OurMode } from '../lib/tools.ts';

type Mode = Extract<OurMode, 'gzip1' | 'gzip1-histogram' | 'histogram-only'>;

interface Sample { wallMs: number; rssBytes: number; parseMs?: number }

export async function measureHistogram(b: Bench): Promise<Row[]> {
  const file = b.shared.heapDump;
  if (!file) throw new Error('no heap dump from measurement 1 to parse');
  const bytes = (await stat(file)).size;
  b.log(`  file: the whole ${formatBytes(bytes)} heap dump of measurement 1`);
  const modes: Mode[] = ['histogram-only', 'gzip1', 'gzip1-histogram'];
  const samples = new Map<Mode, Sample[]>(modes.map((m) => [m, []]));
  for (let round = 0; round < b.sizes.rounds; round++) {
    for (const mode of modes.map((_, i) => modes[(i + round) % modes.length]!)) {
      const prefix = `histogram/${round}/${mode}`;
      const m = await b.uploaders.ours(file, prefix, mode);
      const printed = m.record as unknown as { parseMs?: number; complete?: boolean; histogramComplete?: boolean; size?: number; verified?: boolean };
      if (mode === 'histogram-only' && printed.complete !== true) throw new Error(`the parser did not read the whole dump: ${m.stdout.slice(-2000)}`);
      if (mode !== 'histogram-only') {
        if (!printed.verified || printed.size !== bytes) throw new Error(`${mode}: stored ${m.stdout.slice(-2000)}`);
        if (mode === 'gzip1-histogram' && printed.histogramComplete !== true) throw new Error(`${mode}: histogram incomplete: ${m.stdout.slice(-2000)}`);
        await b.purge(prefix);
      }
      const s: Sample = { wallMs: m.wallMs, rssBytes: m.maxRssBytes, ...(printed.parseMs !== undefined ? { parseMs: printed.parseMs } : {}) };
      samples.get(mode)!.push(s);
      b.log(`  ${mode} #${round + 1}: ${formatSeconds(s.parseMs ?? s.wallMs)} (${formatRate((bytes * 1000) / (s.parseMs ?? s.wallMs))}), peak RSS ${formatBytes(s.rssBytes)}`);
    }
  }
  const get = (m: Mode) => samples.get(m)!;
  const parseRate = get('histogram-only').map((s) => (bytes * 1000) / s.parseMs!);
  const uploadRate = get('gzip1').map((s) => (bytes * 1000) / s.wallMs);
  const withWall = get('gzip1-histogram').map((s) => s.wallMs);
  const withoutWall = get('gzip1').map((s) => s.wallMs);
  const g = `10. heap histogram (${formatBytes(bytes)} real heap dump)`;
  return [
    row({ id: 'histogram.parse-rate', group: g, measurement: 'parser alone vs the upload it rides on (ours gzip 1)', unit: 'bytes/s', ours: median(parseRate), reference: median(uploadRate), referenceLabel: 'our upload, gzip level 1', target: { on: 'ratio', op: '>=', value: 1 }, runs: { ours: parseRate, reference: uploadRate } }),
    row({ id: 'histogram.upload-overhead', group: g, measurement: 'upload with the histogram in the same pass vs without', unit: 'ms', ours: median(withWall), reference: median(withoutWall), referenceLabel: 'same upload, no histogram', target: { on: 'ratio', op: '<=', value: 1.1 }, runs: { ours: withWall, reference: withoutWall } }),
    row({ id: 'histogram.rss', group: g, measurement: 'client peak RSS with the histogram vs without', unit: 'bytes', ours: median(get('gzip1-histogram').map((s) => s.rssBytes)), reference: median(get('gzip1').map((s) => s.rssBytes)), referenceLabel: 'same upload, no histogram', runs: { ours: get('gzip1-histogram').map((s) => s.rssBytes), reference: get('gzip1').map((s) => s.rssBytes) } }),
  ];
}
