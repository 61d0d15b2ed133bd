// Typed readers for single POSTMORTEM_* settings. Each returns its default when the variable
// is unset or blank (a manifest's `VAR: ""` means "not set"), and on a bad value records a
// problem and still returns the default, so parsing can go on and find every other mistake.
import { isAbsolute, normalize } from 'node:path';
import type { Env } from './types.ts';
import { formatBytes, formatDuration, parseBytes, parseDuration } from './units.ts';
import { problem, shown, type Findings } from './problems.ts';

/** The trimmed value, or undefined when unset or blank. */
export function readSetting(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

const TRUE_WORDS = new Set(['true', '1', 'yes']);
const FALSE_WORDS = new Set(['false', '0', 'no']);

/** true/false/1/0/yes/no, case-insensitive; undefined for anything else. */
export function parseBoolean(text: string): boolean | undefined {
  const word = text.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
}

/** The same words as a bash `case` pattern (any case), for the profile.d script. */
export function shellTruePattern(): string {
  const anyCase = (c: string) => (/[a-z]/.test(c) ? `[${c.toUpperCase()}${c}]` : c);
  return [...TRUE_WORDS].map((word) => [...word].map(anyCase).join('')).join('|');
}

export function readBoolean(env: Env, name: string, fallback: boolean, findings: Findings): boolean {
  const text = readSetting(env, name);
  if (text === undefined) return fallback;
  const value = parseBoolean(text);
  if (value !== undefined) return value;
  findings.problems.push(
    problem({
      setting: name,
      received: shown(text),
      expected: 'true or false (also 1/0, yes/no)',
      fix: `set ${name} to true or false, or remove it for the default ${fallback}`,
    }),
  );
  return fallback;
}

export interface RangeSpec {
  min: number;
  max: number;
  fallback: number;
}

export function readInteger(env: Env, name: string, spec: RangeSpec, findings: Findings): number {
  const text = readSetting(env, name);
  if (text === undefined) return spec.fallback;
  const value = /^\d+$/.test(text) ? Number(text) : undefined;
  if (value !== undefined && value >= spec.min && value <= spec.max) return value;
  findings.problems.push(
    problem({
      setting: name,
      received: shown(text),
      expected: `a whole number from ${spec.min} to ${spec.max}`,
      fix: `set ${name} to a number from ${spec.min} to ${spec.max}, or remove it for the default ${spec.fallback}`,
    }),
  );
  return spec.fallback;
}

/** How a quantity setting is written and read: a duration or a size. */
interface Quantity {
  parse(text: string): number | undefined;
  format(value: number): string;
  noun: string;
  examples: string;
}

const DURATION: Quantity = { parse: parseDuration, format: formatDuration, noun: 'duration', examples: '500ms, 30s, 2m or 1h (a plain number is seconds)' };
const SIZE: Quantity = { parse: parseBytes, format: formatBytes, noun: 'size', examples: '64KiB, 8MiB or 1GiB (a plain number is bytes)' };

function readQuantity(env: Env, name: string, spec: RangeSpec, findings: Findings, kind: Quantity): number {
  const text = readSetting(env, name);
  if (text === undefined) return spec.fallback;
  const value = kind.parse(text);
  if (value !== undefined && value >= spec.min && value <= spec.max) return value;
  const range = `from ${kind.format(spec.min)} to ${kind.format(spec.max)}`;
  findings.problems.push(
    problem({
      setting: name,
      received: shown(text),
      expected: value === undefined ? `a ${kind.noun} such as ${kind.examples}, ${range}` : `a ${kind.noun} ${range}`,
      fix: `set ${name} to a ${kind.noun} ${range}, or remove it for the default ${kind.format(spec.fallback)}`,
    }),
  );
  return spec.fallback;
}

/** Durations in milliseconds; the spec's bounds are milliseconds too. */
export function readDuration(env: Env, name: string, spec: RangeSpec, findings: Findings): number {
  return readQuantity(env, name, spec, findings, DURATION);
}

export function readBytes(env: Env, name: string, spec: RangeSpec, findings: Findings): number {
  return readQuantity(env, name, spec, findings, SIZE);
}

/**
 * One of a fixed list, matched case-insensitively and returned in the list's spelling.
 * undefined when unset or not in the list (the latter also records a problem).
 */
export function readChoice<T extends string>(
  env: Env,
  name: string,
  choices: readonly T[],
  findings: Findings,
  fallback?: T,
): T | undefined {
  const text = readSetting(env, name);
  if (text === undefined) return undefined;
  const choice = choices.find((c) => c.toLowerCase() === text.toLowerCase());
  if (choice !== undefined) return choice;
  findings.problems.push(
    problem({
      setting: name,
      received: shown(text),
      expected: `one of ${choices.join(', ')}`,
      fix: `set ${name} to one of those values, or remove it${fallback === undefined ? '' : ` for the default ${fallback}`}`,
    }),
  );
  return undefined;
}

/** An absolute folder, normalised without a trailing slash. */
export function readAbsolutePath(env: Env, name: string, fallback: string, findings: Findings): string {
  const text = readSetting(env, name);
  if (text === undefined) return fallback;
  if (isAbsolute(text)) return withoutTrailingSlash(normalize(text));
  findings.problems.push(
    problem({
      setting: name,
      received: shown(text),
      expected: 'an absolute path such as /home/vcap/tmp/postmortem',
      fix: `set ${name} to an absolute path, or remove it for the default ${fallback}`,
    }),
  );
  return fallback;
}

export function withoutTrailingSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}
