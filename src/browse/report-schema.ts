// A report read from the store is input from whoever can write to the bucket: it is checked
// field by field before any of it is used. Hand-rolled on purpose: the CLI uses a dozen
// fields, and a schema library would add more to the bundle than this whole file; unknown
// extra fields are allowed (newer watchdogs may add some).
import path from 'node:path';
import type { Report } from '../capture/report.ts';

export class InvalidReportError extends Error {}

type Check = (value: unknown, at: string) => void;

const fail = (at: string, expected: string, value: unknown): never => {
  throw new InvalidReportError(`${at}: expected ${expected}, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
};
const str: Check = (v, at) => { if (typeof v !== 'string') fail(at, 'a string', v); };
const num: Check = (v, at) => { if (typeof v !== 'number' || !Number.isFinite(v)) fail(at, 'a number', v); };
const bool: Check = (v, at) => { if (typeof v !== 'boolean') fail(at, 'true or false', v); };
const optional = (check: Check): Check => (v, at) => { if (v !== undefined) check(v, at); };
const nullable = (check: Check): Check => (v, at) => { if (v !== null) check(v, at); };
const oneOf = (...allowed: string[]): Check => (v, at) => { if (typeof v !== 'string' || !allowed.includes(v)) fail(at, allowed.join(' or '), v); };
const object = (fields: Record<string, Check>): Check => (v, at) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(at, 'an object', v);
  for (const [name, check] of Object.entries(fields)) check((v as Record<string, unknown>)[name], `${at}.${name}`);
};
const list = (check: Check): Check => (v, at) => {
  if (!Array.isArray(v)) fail(at, 'a list', v);
  (v as unknown[]).forEach((item, i) => check(item, `${at}[${i}]`));
};

const REPORT = object({
  schema: num,
  reason: str,
  summary: str,
  crash: str,
  store: str,
  app: object({ name: str, org: str, space: str, instanceIndex: str, processType: str }),
  exit: nullable(object({ status: num, signal: nullable(str) })),
  times: object({ started: str, detected: str, died: nullable(str) }),
  artifacts: list(object({
    name: str, key: str, size: num, sha256: str, storedSize: num, storedSha256: str,
    compression: oneOf('gzip', 'zstd', 'none'), verified: bool, unverifiedReason: optional(str),
    complete: optional(bool), incompleteReason: optional(str),
  })),
  failed: list(object({ name: str, error: str, localPath: optional(str) })),
});

/**
 * Parses report.json of `crash` and checks its shape and that every artifact stays inside
 * the crash: its name is a plain file name and its key lies under the crash's prefix.
 */
export function parseReport(text: string, crash: string): Report {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidReportError(`${crash}/report.json is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    REPORT(value, 'report');
  } catch (error) {
    if (error instanceof InvalidReportError) throw new InvalidReportError(`${crash}/report.json is not a crash report (${error.message}); refusing to use it`);
    throw error;
  }
  const report = value as Report;
  report.artifacts.forEach((a, i) => {
    const problem = unsafeName(a.name) ?? (a.key.startsWith(`${crash}/`) && !a.key.split('/').includes('..') && !a.key.includes('\0') ? undefined : `its key ${JSON.stringify(a.key)} is outside ${crash}/`);
    if (problem) throw new InvalidReportError(`${crash}/report.json, artifact ${i} ${JSON.stringify(a.name)}: ${problem}; refusing to use this report (it may have been planted)`);
  });
  return report;
}

/** Why `name` cannot be a file name inside the output folder, or undefined when it can. */
export function unsafeName(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'it is not a file name';
  if (name.includes('\0')) return 'it contains a NUL byte';
  if (name.includes('/') || name.includes('\\')) return 'it contains a path separator (/ or \\)';
  if (path.isAbsolute(name)) return 'it is an absolute path';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'it contains control characters';
  return undefined;
}

/** `out`/`name`, only when it lies inside `out` (checked again after resolving). */
export function confinedPath(out: string, name: string): string {
  const problem = unsafeName(name);
  if (problem) throw new InvalidReportError(`will not write ${JSON.stringify(name)}: ${problem}`);
  const root = path.resolve(out);
  const target = path.resolve(root, name);
  const relative = path.relative(root, target);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) throw new InvalidReportError(`will not write ${JSON.stringify(name)}: it is outside ${root}`);
  return target;
}
