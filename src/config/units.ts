// Durations and byte sizes as people write them in env vars, and back. Parsers return
// undefined for anything they do not understand, so the caller can name the setting.

const DURATION_UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Largest unit first, so formatting picks the shortest exact spelling. */
const DURATION_UNITS_DESC = ['d', 'h', 'm', 's'] as const;

/**
 * Milliseconds from `500ms`, `60s`, `2m`, `1h`, `7d`, `1.5s`, `1m30s`; a plain number means seconds.
 * Case-insensitive, surrounding blanks ignored. Returns undefined when not understood.
 */
export function parseDuration(text: string): number | undefined {
  const input = text.trim().toLowerCase();
  if (/^\d+(?:\.\d+)?$/.test(input)) return Math.round(Number(input) * 1000);
  // One or more number+unit pairs, nothing else (`1m30s`, not `1m junk`).
  if (!/^(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*)+$/.test(input)) return undefined;
  let total = 0;
  for (const match of input.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/g)) {
    total += Number(match[1]) * (DURATION_UNIT_MS[match[2] ?? ''] ?? Number.NaN);
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** `30s`, `2m`, `1h`, `2d`, `250ms` when exact; otherwise seconds with one decimal (`61.2s`). */
export function formatDuration(ms: number): string {
  const whole = Math.round(ms);
  if (whole === 0) return '0s';
  for (const unit of DURATION_UNITS_DESC) {
    const size = DURATION_UNIT_MS[unit] ?? 1;
    if (whole % size === 0) return `${whole / size}${unit}`;
  }
  if (Math.abs(whole) < 1000) return `${whole}ms`;
  return `${trimDecimals((whole / 1000).toFixed(1))}s`;
}

// Binary multiples throughout, like the JVM's -Xmx: `512k` and `512KiB` are both 524288.
const BYTE_UNIT: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

const BYTE_UNITS_DESC = [
  ['TiB', 1024 ** 4],
  ['GiB', 1024 ** 3],
  ['MiB', 1024 ** 2],
  ['KiB', 1024],
] as const;

/**
 * Bytes from `64KiB`, `8MiB`, `1GiB`, `512k`, `8 MB`, `1.5g`; a plain number means bytes.
 * All multiples are binary (k = 1024). Returns undefined when not understood.
 */
export function parseBytes(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  const multiplier = BYTE_UNIT[match[2] ?? ''];
  if (multiplier === undefined) return undefined;
  const bytes = Math.round(Number(match[1]) * multiplier);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** `8 MiB`, `256 KiB`, `1.5 GiB`, `512 B`: largest unit, at most two decimals. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of BYTE_UNITS_DESC) {
    if (Math.abs(bytes) >= size) return `${trimDecimals((bytes / size).toFixed(2))} ${unit}`;
  }
  return `${Math.round(bytes)} B`;
}

function trimDecimals(fixed: string): string {
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}
