// Finding crashes and their reports in a store (browse side: needs List and Get).
import type { Report } from '../capture/report.ts';
import { parseReport } from './report-schema.ts';
import { parseCrashPrefix, reportKey, safeSegment } from '../store/keys.ts';
import type { Store } from '../store/store.ts';

export interface CrashSummary {
  crash: string;
  time: Date;
  org: string;
  space: string;
  app: string;
  instance: string;
  reason: string;
  objects: number;
  bytes: number;
}

export interface CrashFilter {
  org?: string;
  space?: string;
  app?: string;
  instance?: string;
  reason?: string;
  since?: Date;
  /** At most this many, newest first. */
  limit?: number;
}

/**
 * The narrowest key prefix that holds every crash the filter can match: the store's prefix,
 * then org, space and app as long as each is given (keys are <prefix>/<org>/<space>/<app>/…).
 * Names are cleaned as the watchdog cleaned them; the trailing '/' keeps "shop" from "shop2".
 */
export function crashListPrefix(storePrefix: string, filter: CrashFilter): string {
  const segments = storePrefix.split('/').filter((s) => s !== '');
  for (const name of [filter.org, filter.space, filter.app]) {
    if (name === undefined) break;
    segments.push(safeSegment(name));
  }
  return segments.length > 0 ? `${segments.join('/')}/` : '';
}

export async function listCrashes(store: Store, storePrefix: string, filter: CrashFilter = {}): Promise<CrashSummary[]> {
  const crashes = new Map<string, CrashSummary>();
  const wanted = (name: string | undefined, value: string) => name === undefined || safeSegment(name) === value;
  for await (const object of store.list(crashListPrefix(storePrefix, filter))) {
    const parsed = parseCrashPrefix(object.key);
    if (!parsed) continue;
    let entry = crashes.get(parsed.crashPrefix);
    if (!entry) {
      entry = { crash: parsed.crashPrefix, time: parsed.time, org: parsed.org, space: parsed.space, app: parsed.app, instance: parsed.instanceIndex, reason: parsed.reason, objects: 0, bytes: 0 };
      crashes.set(parsed.crashPrefix, entry);
    }
    entry.objects += 1;
    entry.bytes += object.size;
  }
  return [...crashes.values()]
    .filter((c) => wanted(filter.org, c.org) && wanted(filter.space, c.space) && wanted(filter.app, c.app)
      && (filter.instance === undefined || c.instance === filter.instance)
      && (filter.reason === undefined || c.reason === filter.reason)
      && (filter.since === undefined || c.time >= filter.since))
    .sort((a, b) => b.time.getTime() - a.time.getTime())
    .slice(0, filter.limit);
}

/** A crash reference as printed by the watchdog; a trailing slash or report.json is fine. */
export function normalizeCrashRef(ref: string): string {
  return ref.replace(/^s3:\/\/[^/]+\//, '').replace(/\/report\.json$/, '').replace(/\/+$/, '');
}

export async function readReport(store: Store, crash: string): Promise<Report> {
  return (await readReportText(store, crash)).report;
}

/** The report as stored (its bytes, for `get` to save) and as checked. */
export async function readReportText(store: Store, crash: string): Promise<{ text: string; report: Report }> {
  const body = await store.get(reportKey(crash));
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
  const text = Buffer.concat(chunks).toString('utf8');
  return { text, report: parseReport(text, crash) };
}
