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

const DAY_MS = 24 * 3600 * 1000;
/** More day folders than this: one List of the app's prefix is cheaper than one per day. */
const MAX_DAY_LISTS = 31;

/**
 * The prefixes to list: with org, space and app and --since, one per UTC day folder from the
 * day of `since` to tomorrow (an instance's clock may run ahead); otherwise crashListPrefix.
 */
export function crashListPrefixes(storePrefix: string, filter: CrashFilter, now: Date): string[] {
  const base = crashListPrefix(storePrefix, filter);
  if (filter.since === undefined || filter.org === undefined || filter.space === undefined || filter.app === undefined) return [base];
  const days: string[] = [];
  const first = Math.floor(filter.since.getTime() / DAY_MS) * DAY_MS;
  for (let day = first; day <= now.getTime() + DAY_MS && days.length <= MAX_DAY_LISTS; day += DAY_MS) {
    days.push(`${base}${new Date(day).toISOString().slice(0, 10)}/`);
  }
  return days.length <= MAX_DAY_LISTS ? days : [base];
}

export async function listCrashes(store: Store, storePrefix: string, filter: CrashFilter = {}): Promise<CrashSummary[]> {
  const crashes = new Map<string, CrashSummary>();
  const wanted = (name: string | undefined, value: string) => name === undefined || safeSegment(name) === value;
  for (const prefix of crashListPrefixes(storePrefix, filter, new Date())) {
    for await (const object of store.list(prefix)) {
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
