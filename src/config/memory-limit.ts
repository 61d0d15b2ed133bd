// MEMORY_LIMIT, the container's memory limit as Cloud Foundry states it to the app ("1024m",
// "1G"), and the app's share of it once the watchdog's own budget is set aside. The one
// parser of MEMORY_LIMIT: a plain number means megabytes, as in VCAP_APPLICATION limits.mem.
import { formatBytes } from './units.ts';

const MiB = 1024 * 1024;
const UNIT: Readonly<Record<string, number>> = { '': MiB, k: 1024, m: MiB, g: 1024 * MiB, t: 1024 * 1024 * MiB };

/** Bytes from `1024m`, `1G`, `512M`, `2g`, `1GiB`, `1024` (megabytes); undefined when not understood. */
export function parseMemoryLimit(text: string | undefined): number | undefined {
  const m = /^(\d+)\s*([kmgt]?)(?:i?b)?$/i.exec(text?.trim() ?? '');
  if (!m) return undefined;
  const bytes = Number(m[1]) * UNIT[m[2]!.toLowerCase()]!;
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** In MEMORY_LIMIT's own spelling, whole megabytes rounded down: `928m`. */
export function formatMemoryLimit(bytes: number): string {
  return `${Math.floor(bytes / MiB)}m`;
}

export interface AppShare {
  /** MEMORY_LIMIT for the app's start command; undefined: leave MEMORY_LIMIT as it is. */
  appLimit?: string;
  /** One line for the log saying what was done and why. */
  message?: string;
}

/**
 * The app's share of the container's limit: the limit less the watchdog's reserve. The reserve
 * is not taken when it would leave the app less than half the limit (a small container would
 * then fail to start where it ran before): the line says so instead.
 */
export function appShareOfMemory(memoryLimit: string | undefined, reserve: number): AppShare {
  if (reserve === 0) return {};
  const limit = parseMemoryLimit(memoryLimit);
  if (limit === undefined) {
    return memoryLimit === undefined ? {} : { message: `MEMORY_LIMIT ${JSON.stringify(memoryLimit)} is not a size such as 1024m; the app's memory limit is left as it is and our ${formatBytes(reserve)} are not set aside for the watchdog` };
  }
  if (reserve > limit / 2) {
    return { message: `WARNING: MEMORY_LIMIT stays ${memoryLimit}: setting aside the watchdog's ${formatBytes(reserve)} (POSTMORTEM_MEMORY_RESERVE) would leave the app less than half of it; in a container this small the watchdog's memory can push the app over the limit (raise the memory quota, or POSTMORTEM_MEMORY_RESERVE=0 to silence this)` };
  }
  const appLimit = formatMemoryLimit(limit - reserve);
  return {
    appLimit,
    message: `the app's MEMORY_LIMIT is ${appLimit}: the container's ${memoryLimit} less ${formatBytes(reserve)} for the crash watchdog (POSTMORTEM_MEMORY_RESERVE; 0 turns this off), so the Java memory calculator sizes the JVM to what is left`,
  };
}
