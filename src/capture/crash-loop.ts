// Crash loops: the platform restarts a crashed instance at once, three times, then with a
// growing delay. The same instance must not upload the same 2 GB heap dump every minute.
// A container keeps nothing between restarts, so the count lives in the store: up to
// `max` empty marker objects per app instance and time window, claimed before a big upload.
// Reading them needs HeadObject (s3:GetObject); with a write-only policy the limit cannot
// be enforced, and we say so instead of guessing.
import { Readable } from 'node:stream';
import { crashLoopMarkerKey } from '../store/keys.ts';
import type { RequestLimits, Store } from '../store/store.ts';

export interface DumpAllowance {
  allowed: boolean;
  /** Why not, or why the limit could not be checked. */
  reason?: string;
}

export interface CrashLoopLimit {
  store: Store;
  /** <prefix>/<org>/<space>/<app> */
  appPrefix: string;
  instance: string;
  max: number;
  windowMs: number;
  now: number;
  /** The crash's deadline: reading and writing markers is part of its work. */
  limits?: () => RequestLimits;
}

export async function claimDumpSlot(limit: CrashLoopLimit): Promise<DumpAllowance> {
  if (limit.max <= 0) return { allowed: true };
  for (let n = 1; n <= limit.max; n++) {
    const key = crashLoopMarkerKey(limit, n);
    let taken: boolean;
    try {
      taken = (await limit.store.head(key, limit.limits?.())) !== undefined;
    } catch (error) {
      return { allowed: true, reason: `crash-loop limit not enforced: cannot read markers (${error instanceof Error ? error.message : String(error)})` };
    }
    if (taken) continue;
    await limit.store.put({ key, body: Readable.from([Buffer.alloc(0)]), contentType: 'application/octet-stream', ...limit.limits?.() }).catch(() => undefined);
    return { allowed: true };
  }
  const minutes = Math.round(limit.windowMs / 60_000);
  return { allowed: false, reason: `instance ${limit.instance} already stored ${limit.max} dumps in this ${minutes}-minute window (POSTMORTEM_MAX_DUMPS / POSTMORTEM_DUMP_WINDOW)` };
}
