// Option values of the CLI, checked where they are parsed: a bad value is a usage error that
// names the option and the accepted form, never a silent default.
import { InvalidArgumentError } from 'commander';
import { newFindings } from '../config/problems.ts';
import { parseStoreUrl } from '../config/store-target.ts';
import { parseDuration } from '../config/units.ts';

/** S3 signs URLs for at most 7 days (SigV4). */
const MAX_PRESIGN_MS = 7 * 24 * 3600 * 1000;

export function presignDuration(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000 || ms > MAX_PRESIGN_MS) {
    throw new InvalidArgumentError('expected a duration from 1s to 7d, like 10m, 1h or 7d (S3 signs URLs for at most 7 days)');
  }
  return ms;
}

export function pastDuration(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('expected a duration like 30m, 24h or 7d');
  return ms;
}

export function positiveInteger(text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1) throw new InvalidArgumentError('expected a whole number of 1 or more');
  return Number(text);
}

export function wholeNumber(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError('expected a whole number of 0 or more');
  return Number(text);
}

export function endpointUrl(text: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.username || url.password) {
    throw new InvalidArgumentError('expected an http(s) URL without credentials, like https://s3.example.com');
  }
  return text;
}

export function nonBlank(text: string): string {
  if (text.trim() === '') throw new InvalidArgumentError('expected a value, not an empty string');
  return text.trim();
}

/** The same forms POSTMORTEM_STORE accepts, checked by the same code; the message says the form. */
export function storeUrl(text: string): string {
  const findings = newFindings();
  if (parseStoreUrl(text, findings) === undefined) {
    // The problem is worded for POSTMORTEM_STORE and quotes the value; keep its expectation and fix.
    const detail = (findings.problems[0] ?? '').replace(/^POSTMORTEM_STORE is "[^]*?": /, '').replace(/POSTMORTEM_STORE/g, '--store');
    throw new InvalidArgumentError(detail || 'expected s3://bucket[/prefix] or file:///absolute/path');
  }
  return text;
}
