// Human-readable rendering of crash lists and reports (JSON output bypasses this).
import type { Report } from '../capture/report.ts';
import { formatBytes } from '../config/units.ts';
import type { CrashSummary } from './crashes.ts';
import { histogramLines } from './histogram.ts';

export function renderCrashTable(rows: CrashSummary[]): string {
  if (rows.length === 0) return 'no crashes found\n';
  const table = [['TIME (UTC)', 'APP', 'INSTANCE', 'REASON', 'OBJECTS', 'SIZE', 'CRASH']];
  for (const r of rows) {
    table.push([r.time.toISOString().replace('.000Z', 'Z'), r.app, r.instance, r.reason, String(r.objects), formatBytes(r.bytes), r.crash]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function renderReport(report: Report): string {
  const lines = [
    `crash      ${report.crash}`,
    `reason     ${report.reason}: ${report.summary}`,
    `app        ${report.app.name} (${report.app.org}/${report.app.space}) instance ${report.app.instanceIndex} [${report.app.processType}]`,
    `exit       ${report.exit ? `status ${report.exit.status}${report.exit.signal ? ` (${report.exit.signal})` : ''}` : 'app still running'}`,
    `started    ${report.times.started}`,
    `detected   ${report.times.detected}`,
    `died       ${report.times.died ?? '-'}`,
    'artifacts:',
    ...report.artifacts.map((a) => `  ${a.name.padEnd(20)} ${formatBytes(a.size).padStart(10)} stored ${formatBytes(a.storedSize).padStart(10)} ${a.compression.padEnd(5)} sha256 ${a.sha256.slice(0, 16)}… ${artifactState(a)}`),
    ...(report.failed.length > 0 ? ['not stored:', ...report.failed.map((f) => `  ${f.name}: ${f.error}${f.localPath ? ` (was at ${f.localPath})` : ''}`)] : []),
    ...histogramLines(report), // issue 13
  ];
  return lines.join('\n') + '\n';
}

/** "verified" only for what is whole and confirmed by the store; never beside INCOMPLETE. */
function artifactState(a: Report['artifacts'][number]): string {
  const states = [
    ...(a.complete === false ? [`INCOMPLETE (${a.incompleteReason ?? 'no reason recorded'})`] : []),
    ...(a.verified ? [] : [`unverified (${a.unverifiedReason ?? '?'})`]),
  ];
  return states.length > 0 ? states.join(', ') : 'verified';
}
