// Issue 13: index.html next to every crash — what died, when, why, the top of the heap
// histogram, the thread that threw, the log tail and how to fetch each artifact — readable
// straight from the S3 console or a presigned URL. Self-contained: inline CSS and SVG, no
// script, no external asset, and a Content-Security-Policy that would block any that slipped
// in. Rendered from the final report (already redacted); the log tail gets the same scrubbing
// as event-log lines. Every text from the app (class names, log lines, names) is HTML-escaped.
import { formatBytes } from '../config/units.ts';
import { codecOf } from '../store/codecs.ts';
import type { Store } from '../store/store.ts';
import { storeBytes, type BytesOptions } from '../store/pipeline.ts';
import { crashPageKey, PAGE_NAME } from '../store/keys.ts';
import { redact, type EventLog } from '../util/event-log.ts';
import type { HistogramSummary } from './heap-histogram.ts';
import type { Report } from './report.ts';

export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";
/** Lines of the log tail shown on the page (the whole tail is log-tail.txt). */
const PAGE_LOG_LINES = 200;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Control characters (terminal escapes, NULs) removed; tabs and newlines kept. */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
}

/** A POSIX shell word: safe to paste whatever the key contains. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The log tail as shown: credentials in URLs redacted, control characters dropped, last lines only. */
export function pageLogTail(logTail: Buffer | string | undefined): string {
  if (logTail === undefined) return '';
  const text = printable(redact(typeof logTail === 'string' ? logTail : logTail.toString('utf8')));
  return text.split('\n').slice(-PAGE_LOG_LINES).join('\n');
}

type Row = [label: string, value: unknown];

function table(rows: Row[]): string {
  const shown = rows.filter(([, v]) => v !== undefined && v !== null && v !== '');
  return `<table class="kv">${shown.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>`;
}

/** Fields other parts of the watchdog may add (OOM kind, container memory): shown when present, whatever their shape. */
function extraFacts(report: Record<string, unknown>): Row[] {
  const rows: Row[] = [];
  const add = (label: string, value: unknown, depth = 0): void => {
    if (value === null || value === undefined) return;
    if (typeof value === 'object' && !Array.isArray(value) && depth < 2) {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) add(`${label} ${k}`, v, depth + 1);
    } else if (typeof value !== 'object') {
      rows.push([label, typeof value === 'number' && /bytes|memory|limit|usage|rss|peak/i.test(label) && value > 1024 ? `${formatBytes(value)} (${value} bytes)` : value]);
    }
  };
  for (const [key, value] of Object.entries(report)) {
    if (/^(oom|container|memory|cgroup)/i.test(key)) add(key, value);
  }
  return rows;
}

function exitText(report: Report): string | undefined {
  if (!report.exit) return 'the app was still running';
  const { status, code, signal } = report.exit;
  return `status ${status}${code !== null ? `, exit code ${code}` : ''}${signal ? `, signal ${signal}` : ''}`;
}

function histogramSection(h: HistogramSummary): string {
  const max = Math.max(1, ...h.top.map((e) => e.bytes));
  const total = Math.max(1, h.totals.bytes);
  const barHeight = 18;
  const labelWidth = 360;
  const chartWidth = 300;
  const bars = h.top.map((e, i) => {
    const y = i * (barHeight + 4);
    const w = Math.max(1, Math.round((e.bytes / max) * chartWidth));
    return `<text x="${labelWidth - 6}" y="${y + 13}" text-anchor="end">${escapeHtml(truncate(e.name, 52))}</text>` +
      `<rect x="${labelWidth}" y="${y}" width="${w}" height="${barHeight}" class="bar"></rect>` +
      `<text x="${labelWidth + w + 6}" y="${y + 13}">${escapeHtml(formatBytes(e.bytes))}</text>`;
  }).join('');
  const svg = `<svg class="chart" role="img" aria-label="shallow bytes of the top classes" width="${labelWidth + chartWidth + 90}" height="${h.top.length * (barHeight + 4)}" xmlns="http://www.w3.org/2000/svg">${bars}</svg>`;
  const rows = h.top.map((e, i) => `<tr><td class="n">${i + 1}</td><td class="cls">${escapeHtml(e.name)}</td><td class="n">${e.instances.toLocaleString('en-US')}</td><td class="n">${e.bytes.toLocaleString('en-US')}</td><td class="n">${((100 * e.bytes) / total).toFixed(1)}%</td></tr>`).join('');
  const state = h.complete
    ? ''
    : `<p class="warn">Incomplete: ${escapeHtml(h.reason ?? 'the dump could not be read to its end')}. The figures cover what was read.</p>`;
  const roots = Object.entries(h.totals.gcRoots).map(([k, v]) => `${k} ${v}`).join(', ');
  return `<section id="histogram"><h2>Heap histogram <small>(${escapeHtml(h.artifact)}${h.file ? `, all classes in ${escapeHtml(h.file)}` : ''})</small></h2>${state}
${table([
    ['objects', h.totals.objects.toLocaleString('en-US')],
    ['shallow bytes', `${formatBytes(h.totals.bytes)} (${h.totals.bytes.toLocaleString('en-US')} bytes)`],
    ['classes loaded', h.totals.classes],
    ['GC roots', roots],
  ])}
${svg}
<table class="hist"><thead><tr><th>#</th><th>class</th><th>instances</th><th>bytes</th><th>share</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}

function throwerSection(h: HistogramSummary | undefined): string {
  const t = h?.outOfMemoryThread;
  if (!t) return '';
  const name = t.name === null ? `thread #${t.serial ?? '?'}` : `"${t.name}"`;
  const from = t.nameFrom === 'jvm-output' ? ' (name from the JVM\'s output; the stack from the heap dump)' : '';
  const frames = t.frames.map((f) => `    at ${f.method}(${f.source || 'unknown source'}${typeof f.line === 'number' ? `:${f.line}` : `, ${f.line}`})`).join('\n');
  return `<section id="thrower"><h2>The thread that threw OutOfMemoryError</h2><p>${escapeHtml(name)}${escapeHtml(from)}</p><pre class="stack">${escapeHtml(frames || '(no frames in the dump)')}</pre></section>`;
}

function artifactsSection(report: Report): string {
  const bucket = /^s3:\/\/(.+)$/.exec(report.store)?.[1];
  const fileRoot = /^file:\/\/(.+)$/.exec(report.store)?.[1];
  const rows = report.artifacts.map((a) => {
    const extension = a.compression === 'none' ? '' : codecOf(a.compression).extension;
    const target = a.name.endsWith(extension) ? a.name : `${a.name}${extension}`;
    const fetch = bucket !== undefined ? `aws s3 cp ${shellWord(`s3://${bucket}/${a.key}`)} ${shellWord(`./${target}`)}` : fileRoot !== undefined ? `cp ${shellWord(`${fileRoot.replace(/\/$/, '')}/${a.key}`)} .` : '';
    return `<tr><td class="cls">${escapeHtml(a.name)}</td><td class="n">${escapeHtml(formatBytes(a.size))}</td><td class="n">${escapeHtml(formatBytes(a.storedSize))}${a.compression === 'none' ? '' : ` ${a.compression}`}</td><td class="hash">${escapeHtml(a.sha256 || 'unknown')}</td><td>${a.verified ? 'verified' : `not verified${'unverifiedReason' in a && a.unverifiedReason ? `: ${escapeHtml(a.unverifiedReason)}` : ''}`}</td><td><code>${escapeHtml(fetch)}</code></td></tr>`;
  }).join('');
  const failed = report.failed.length === 0 ? '' : `<h3>Not stored</h3><ul>${report.failed.map((f) => `<li>${escapeHtml(f.name)}: ${escapeHtml(f.error)}${f.localPath ? ` (still at ${escapeHtml(f.localPath)} in the container)` : ''}</li>`).join('')}</ul>`;
  return `<section id="artifacts"><h2>Artifacts</h2><p>All of them: <code>${escapeHtml(`postmortem get ${shellWord(report.crash)}`)}</code></p>
<table class="art"><thead><tr><th>name</th><th>size</th><th>stored</th><th>sha256 (content)</th><th></th><th>fetch</th></tr></thead><tbody>${rows}</tbody></table>${failed}</section>`;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d1d1f;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}small{color:#666;font-weight:normal}
table{border-collapse:collapse;margin:6px 0}th,td{padding:3px 8px;text-align:left;vertical-align:top}
table.kv th{color:#555;font-weight:normal;white-space:nowrap}.hist td,.art td,.hist th,.art th{border-bottom:1px solid #eee}
.n{text-align:right;font-variant-numeric:tabular-nums}.cls{font-family:ui-monospace,monospace;word-break:break-all}
.art td:first-child{white-space:nowrap}.hash{font-family:ui-monospace,monospace;font-size:11px;word-break:break-all;max-width:260px}
pre{background:#f6f6f6;padding:10px;overflow:auto;white-space:pre-wrap;word-break:break-all;font-size:12px}
.chart text{font:12px ui-monospace,monospace;fill:#333}.chart .bar{fill:#c0392b}
.warn{background:#fff3cd;padding:6px 10px}.why{font-size:16px}code{font-size:12px}`;

/** The page, from the final report and the log tail. Pure. */
export function renderCrashPage(report: Report, logTail?: Buffer | string): string {
  const extra = report as unknown as Record<string, unknown>;
  const histogram = (report as { heapHistograms?: HistogramSummary[] }).heapHistograms?.[0];
  const tail = pageLogTail(logTail);
  const title = `${report.app.name} #${report.app.instanceIndex}: ${report.reason}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(PAGE_CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>
<h1>${escapeHtml(report.app.name)} crashed: ${escapeHtml(report.reason)}</h1>
<p class="why" id="summary">${escapeHtml(report.summary)}</p>
<section id="what"><h2>What died, when, why</h2>
${table([
    ['app', `${report.app.name} (${report.app.guid})`],
    ['org / space', `${report.app.org} / ${report.app.space}`],
    ['instance', `${report.app.instanceIndex} (${report.app.processType}, ${report.app.instanceGuid})`],
    ['reason', report.reason],
    ['exit', exitText(report)],
    ['started', report.times.started],
    ['detected', report.times.detected],
    ['died', report.times.died],
    ['memory limit', report.app.memoryLimit],
    ...extraFacts(extra),
    ['JAVA_TOOL_OPTIONS', report.jvm?.javaToolOptions],
    ['crash folder', `${report.store}/${report.crash}/`],
    ['written by', report.tool],
  ])}</section>
${histogram ? histogramSection(histogram) : ''}
${throwerSection(histogram)}
<section id="log"><h2>Log tail <small>(last ${PAGE_LOG_LINES} lines at most; all of it in log-tail.txt)</small></h2><pre id="log-tail">${escapeHtml(tail || '(no output)')}</pre></section>
${artifactsSection(report)}
</body></html>
`;
}

/** Stores index.html after the report; a failure is logged, never thrown (the report is what counts). */
export async function storeCrashPage(store: Store, crashPrefix: string, report: Report, logTail: Buffer | undefined, log: EventLog, limits: Pick<BytesOptions, 'signal' | 'timeoutMs' | 'now'> = {}): Promise<void> {
  try {
    const stored = await storeBytes(store, crashPageKey(crashPrefix), renderCrashPage(report, logTail), { contentType: 'text/html; charset=utf-8', ...limits });
    log.info(`crash page -> ${stored.location}`);
  } catch (error) {
    log.error(`could not store ${PAGE_NAME}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function truncate(text: string, max: number): string {
  return text.length > max ? `…${text.slice(-(max - 1))}` : text;
}
