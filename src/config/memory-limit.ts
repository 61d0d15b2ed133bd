// MEMORY_LIMIT, the container's memory limit as Cloud Foundry states it to the app ("1024m",
// "1G"), and the app's share of it once the watchdog's own budget is set aside. The one
// parser of MEMORY_LIMIT: a plain number means megabytes, as in VCAP_APPLICATION limits.mem.
import { formatBytes } from './units.ts';
import { readBytes, readSetting } from './settings.ts';
import { newFindings, problem, shown, type Findings } from './problems.ts';
import type { Env } from './types.ts';

const MiB = 1024 * 1024;

/**
 * POSTMORTEM_MEMORY_RESERVE. The profile.d script applies the same rule in shell
 * (src/launch/memory-share.ts; test/launch/memory-share.test.ts holds the two equal), which
 * reads at most MAX_DECIMALS decimals exactly; more would need floating point in shell.
 */
export const MEMORY_RESERVE = { min: 0, max: 16 * 1024 * MiB, fallback: 144 * MiB, maxDecimals: 6 } as const;

export function readMemoryReserve(env: Env, findings: Findings): number {
  const name = 'POSTMORTEM_MEMORY_RESERVE';
  const text = readSetting(env, name);
  if (text !== undefined && new RegExp(`\\.\\d{${MEMORY_RESERVE.maxDecimals + 1},}`).test(text)) {
    findings.problems.push(problem({ setting: name, received: shown(text), expected: `a size with at most ${MEMORY_RESERVE.maxDecimals} decimals`, fix: `write it as e.g. 96MiB or 0.25GiB` }));
    return MEMORY_RESERVE.fallback;
  }
  return readBytes(env, name, MEMORY_RESERVE, findings);
}

/** The MEMORY_LIMIT the start command gets (undefined: left as it is), as the profile.d script computes it. */
export function appMemoryLimit(env: Env): string | undefined {
  const findings = newFindings();
  const reserve = readMemoryReserve(env, findings);
  return findings.problems.length > 0 ? undefined : appShareOfMemory(env.MEMORY_LIMIT, reserve).appLimit;
}
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

/**
 * The watchdog's line about the app's share, from the limits the profile.d script left:
 * POSTMORTEM_CONTAINER_MEMORY_LIMIT (the container's) and MEMORY_LIMIT (the app's).
 */
export function appShareNotice(env: Env, reserve: number): string | undefined {
  const container = env.POSTMORTEM_CONTAINER_MEMORY_LIMIT ?? env.MEMORY_LIMIT;
  const share = appShareOfMemory(container, reserve);
  if (share.appLimit === undefined || share.appLimit === env.MEMORY_LIMIT) return share.message;
  return `WARNING: the app's MEMORY_LIMIT is ${env.MEMORY_LIMIT ?? 'unset'}, not the ${share.appLimit} that ${container} less ${formatBytes(reserve)} (POSTMORTEM_MEMORY_RESERVE) leaves: a later profile.d script changed it, or the buildpack's profile.d script did not run`;
}
