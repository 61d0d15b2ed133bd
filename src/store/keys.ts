// Where a crash's artifacts live, as a pure function of who crashed, when and why:
//   <prefix>/<org>/<space>/<app>/<YYYY-MM-DD>/<YYYYMMDDTHHMMSSZ>-<instance>-<reason>/<artifact>
// The day folder makes "what crashed on Tuesday" one List call; the stamp first makes
// crashes of one day sort by time. Everything is UTC so instances in any zone agree.

export interface CrashKeyParts {
  /** Operator's key prefix, may hold several '/'-separated segments; '' for none. */
  prefix: string;
  org: string;
  space: string;
  app: string;
  instanceIndex: string;
  /** Short classification of the death, e.g. 'oom-killed', 'exit-1', 'signal-SIGSEGV'. */
  reason: string;
  time: Date;
}

export interface ParsedCrashPrefix extends CrashKeyParts {
  /** The crash prefix itself (without any artifact part). */
  crashPrefix: string;
  /** What followed the crash prefix in the key ('' when the key was the prefix itself). */
  artifact: string;
}

/** Long names are cut so that a key stays well below S3's 1024-byte limit. */
const MAX_SEGMENT = 100;

/**
 * One path segment that is the same on every store and in every shell: only [A-Za-z0-9._-]
 * survive, anything else becomes '-'. Empty and all-dot names ('.', '..') become '_' so a
 * segment can never vanish or climb out of the file store's root.
 */
export function safeSegment(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, MAX_SEGMENT);
  return /^\.*$/.test(cleaned) ? cleaned.replace(/\./g, '_') || '_' : cleaned;
}

/** The instance index is the stem's separator-free field, so '-' is not allowed in it. */
function safeInstance(index: string): string {
  return safeSegment(index).replace(/-/g, '_');
}

/** Prefix segments cleaned one by one; empty segments (leading/trailing/double '/') dropped. */
function prefixSegments(prefix: string): string[] {
  return prefix.split('/').filter((s) => s !== '').map(safeSegment);
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function utcDay(time: Date): string {
  return `${pad(time.getUTCFullYear(), 4)}-${pad(time.getUTCMonth() + 1)}-${pad(time.getUTCDate())}`;
}

function utcStamp(time: Date): string {
  return (
    `${pad(time.getUTCFullYear(), 4)}${pad(time.getUTCMonth() + 1)}${pad(time.getUTCDate())}` +
    `T${pad(time.getUTCHours())}${pad(time.getUTCMinutes())}${pad(time.getUTCSeconds())}Z`
  );
}

export function crashPrefix(parts: CrashKeyParts): string {
  if (Number.isNaN(parts.time.getTime())) throw new TypeError('crashPrefix: time is an invalid Date');
  const stem = `${utcStamp(parts.time)}-${safeInstance(parts.instanceIndex)}-${safeSegment(parts.reason)}`;
  return [
    ...prefixSegments(parts.prefix),
    safeSegment(parts.org),
    safeSegment(parts.space),
    safeSegment(parts.app),
    utcDay(parts.time),
    stem,
  ].join('/');
}

/** Key of one artifact inside a crash; the name may hold '/' for sub-folders. */
export function artifactKey(crashPrefixKey: string, name: string): string {
  const segments = name.split('/').filter((s) => s !== '').map(safeSegment);
  if (segments.length === 0) throw new TypeError('artifactKey: empty artifact name');
  return `${crashPrefixKey}/${segments.join('/')}`;
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const STEM = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-([A-Za-z0-9._]+)-([A-Za-z0-9._-]+)$/;

/**
 * Reads a crash prefix (or the key of an artifact inside one) back into its parts.
 * Scans from the right for a day folder followed by a stem of the same day, with at least
 * org/space/app before it; anything else is not ours and gives undefined.
 */
export function parseCrashPrefix(key: string): ParsedCrashPrefix | undefined {
  const segments = key.split('/');
  for (let i = segments.length - 2; i >= 3; i--) {
    const day = DAY.exec(segments[i] ?? '');
    const stem = STEM.exec(segments[i + 1] ?? '');
    if (!day || !stem) continue;
    const [, y, mo, d, h, mi, s, instanceIndex, reason] = stem as unknown as string[];
    if (`${y}-${mo}-${d}` !== segments[i]) continue;
    const time = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
    if (Number.isNaN(time.getTime()) || utcStamp(time) !== `${y}${mo}${d}T${h}${mi}${s}Z`) continue;
    return {
      prefix: segments.slice(0, i - 3).join('/'),
      org: segments[i - 3] as string,
      space: segments[i - 2] as string,
      app: segments[i - 1] as string,
      instanceIndex: instanceIndex as string,
      reason: reason as string,
      time,
      crashPrefix: segments.slice(0, i + 2).join('/'),
      artifact: segments.slice(i + 2).join('/'),
    };
  }
  return undefined;
}

export const REPORT_NAME = 'report.json';
export const LOG_TAIL_NAME = 'log-tail.txt';

/** The crash's report: the source of truth for what is stored and every hash. */
export function reportKey(crashPrefixKey: string): string {
  return `${crashPrefixKey}/${REPORT_NAME}`;
}

/** The crash page beside the report: self-contained HTML rendered from the final report. */
export const PAGE_NAME = 'index.html';

export function crashPageKey(crashPrefixKey: string): string {
  return `${crashPrefixKey}/${PAGE_NAME}`;
}

/** The app's recent output, stored with every crash. */
export function logTailKey(crashPrefixKey: string): string {
  return `${crashPrefixKey}/${LOG_TAIL_NAME}`;
}

/** <prefix>/<org>/<space>/<app> of a crash prefix (its day and stem folders removed). */
export function appPrefixOf(crashPrefixKey: string): string {
  return crashPrefixKey.split('/').slice(0, -2).join('/');
}

export interface CrashLoopSlot {
  /** <prefix>/<org>/<space>/<app> */
  appPrefix: string;
  instance: string;
  windowMs: number;
  now: number;
}

/** The n-th crash-loop marker of an instance in the time window that holds `now`. */
export function crashLoopMarkerKey(slot: CrashLoopSlot, n: number): string {
  const window = Math.floor(slot.now / slot.windowMs);
  return `${slot.appPrefix}/.postmortem-limits/${safeInstance(slot.instance)}/${slot.windowMs}-${window}-${n}`;
}
