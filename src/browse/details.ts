// What `show` adds below the report summary: the OOM message, the JVM flags and the end of
// the app's log (the heap histogram's top is rendered by histogram.ts). These fields are
// optional in a report (older watchdogs, non-JVM apps) and come from the bucket, so each is
// read defensively: a field of the wrong shape is left out, never trusted.
import { pipeline } from 'node:stream/promises';
import type { Report } from '../capture/report.ts';
import { LOG_TAIL_NAME } from '../store/keys.ts';
import { createDecompressor } from '../store/codecs.ts';
import type { Store } from '../store/store.ts';

/** Enough for any excerpt people read in a terminal; the log tail itself may be 16 MiB. */
const LOG_EXCERPT_BYTES = 64 * 1024;

const record = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);
const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
const firstOf = <T>(o: Record<string, unknown>, names: string[], read: (v: unknown) => T | undefined): T | undefined => {
  for (const name of names) {
    const value = read(o[name]);
    if (value !== undefined) return value;
  }
  return undefined;
};

export function renderDetails(report: Report, logTail: string[] | undefined): string {
  const lines: string[] = [];
  const oom = record(record(report)?.oomKind);
  if (oom) {
    const message = text(oom.message);
    const what = text(oom.what);
    if (message || what) lines.push(`oom        ${what ? `${what}: ` : ''}${message ?? ''}`);
    const hint = text(oom.hint);
    if (hint) lines.push(`hint       ${hint}`);
  }
  const jvm = record(record(report)?.jvm);
  if (jvm) {
    const majors = Array.isArray(jvm.jdkMajors) ? jvm.jdkMajors.filter((m) => count(m) !== undefined) : [];
    if (majors.length > 0) lines.push(`jdk        ${majors.join(', ')}`);
    const toolOptions = text(jvm.javaToolOptions);
    const javaOpts = text(jvm.javaOpts);
    lines.push(`JAVA_TOOL_OPTIONS  ${toolOptions ?? '-'}`);
    if (javaOpts) lines.push(`JAVA_OPTS  ${javaOpts}`);
  }
  if (logTail) {
    lines.push(logTail.length > 0 ? `log tail, last ${logTail.length} lines:` : 'log tail: empty');
    lines.push(...logTail.map((line) => `  | ${line}`));
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** The last `maxLines` lines of the crash's log tail, or undefined when it has none. Reads the object once, keeping its end. */
export async function readLogTail(store: Store, report: Report, maxLines: number): Promise<string[] | undefined> {
  const artifact = report.artifacts.find((a) => a.name === LOG_TAIL_NAME || a.name === `${LOG_TAIL_NAME}.gz`);
  if (!artifact || maxLines === 0) return undefined;
  let end = Buffer.alloc(0);
  const keepEnd = async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      end = Buffer.concat([end, chunk]);
      if (end.length > LOG_EXCERPT_BYTES) end = end.subarray(end.length - LOG_EXCERPT_BYTES);
    }
  };
  const body = await store.get(artifact.key);
  if (artifact.compression !== 'none') await pipeline(body, await createDecompressor(artifact.compression, true), keepEnd);
  else await pipeline(body, keepEnd);
  const lines = end.toString('utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-maxLines);
}
