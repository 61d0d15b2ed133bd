// Finding crashes and their reports in a store (browse side: needs List and Get).
import type { Report } from '../capture/report.ts';
import { parseReport } from './report-schema.ts';
import { parseCrashPrefix, reportKey } from '../store/keys.ts';
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
  app?: string;
  reason?: string;
  since?: Date;
}

export async function listCrashes(store: Store, prefix: string, filter: CrashFilter = {}): Promise<CrashSummary[]> {
  const crashes = new Map<string, CrashSummary>();
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
  return [...crashes.values()]
    .filter((c) => (filter.app === undefined || c.app === filter.app)
      && (filter.reason === undefined || c.reason === filter.reason)
      && (filter.since === undefined || c.time >= filter.since))
    .sort((a, b) => b.time.getTime() - a.time.getTime());
}

/** A crash reference as printed by the watchdog; a trailing slash or report.json is fine. */
export function normalizeCrashRef(ref: string): string {
  return ref.replace(/^s3:\/\/[^/]+\//, '').replace(/\/report\.json$/, '').replace(/\/+$/, '');
}

export async function readReport(store: Store, crash: string): Promise<Report> {
  const body = await store.get(reportKey(crash));
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
  return parseReport(Buffer.concat(chunks).toString('utf8'), crash);
}
