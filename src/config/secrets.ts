// Values that must never reach a log line or a report: found by name (DB_PASS, *_KEY,
// *CREDENTIALS) and by form inside other values (a URL's password, `password=` in a query
// string or an option, `"private_key": "…"` in JSON). Every scan here is linear in the
// length of the text: apps carry environments of hundreds of KB (SPRING_APPLICATION_JSON),
// and these run at every start.
import type { Env } from './types.ts';
import { isRecord, parseJsonObject } from './json.ts';

/** Shorter values would redact ordinary words; the event log applies the same floor. */
export const MIN_SECRET_LENGTH = 4;
export const MASK = '***';

/** Names (variables, fields, option keys, query parameters) whose values are secret. */
const SECRET_NAME = /secret|pass|pwd|token|credential|auth|signature|cookie|session|salt|private|api[_.-]?key|access[_.-]?key|(?:^|[^a-z])key(?:s|id)?$|[_.-]key[_.-]/i;
/**
 * The shell's working-directory variables contain "PWD" but hold paths; an access key id
 * names the credentials (the logs need it to say which), the secret key is what is secret.
 */
const SHELL_DIRECTORY = /^(OLD)?PWD$/;
const ACCESS_KEY_ID = /^(?!.*secret).*access[_.-]?key(?:[_.-]?id)?$/i;
/** Values too common to hide from log lines (a flag named AUTH_ENABLED=true). */
const PLAIN_WORD = /^(true|false|yes|no|on|off|none|null)$/i;

/** A variable or field whose name says its value is secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) && !SHELL_DIRECTORY.test(name) && !ACCESS_KEY_ID.test(name);
}

type Span = [start: number, end: number];

/**
 * Where secrets sit inside `text`: URL passwords (`scheme://user:PASSWORD@`), values of
 * secret-named `key=value` pairs (query strings, `-Ddb.pass=`, `--api-token=`), and string
 * values of secret-named JSON fields. Each part scans the text once.
 */
export function secretSpans(text: string, options: SpanOptions = {}): Span[] {
  if (text.length < MIN_SECRET_LENGTH) return [];
  return [...urlPasswordSpans(text, options.urlUser ?? false), ...keyValueSpans(text), ...jsonFieldSpans(text)];
}

export interface SpanOptions {
  /** Mask a URL's user too (`***:***@`): for S3 endpoints it is the access key id. */
  urlUser?: boolean;
}

/** `text` with every secret span replaced by ***. */
export function maskSecretSpans(text: string, options: SpanOptions = {}): string {
  const spans = secretSpans(text, options).sort((a, b) => a[0] - b[0]);
  if (spans.length === 0) return text;
  let out = '';
  let at = 0;
  for (const [start, end] of spans) {
    if (end <= at) continue;
    out += text.slice(at, Math.max(at, start)) + (start >= at ? MASK : '');
    at = end;
  }
  return out + text.slice(at);
}

/**
 * Every secret value in the environment, longest first (so a secret that contains another
 * is hidden whole): values of secret-named variables, secret-named credential fields of
 * every bound service, and secrets found by form inside any value.
 */
export function collectSecrets(env: Env): string[] {
  const found = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || name === 'VCAP_SERVICES') continue;
    if (isSecretName(name)) found.add(value.trim());
    addSpans(value, found);
  }
  const services = env.VCAP_SERVICES === undefined ? undefined : parseJsonObject(env.VCAP_SERVICES);
  if (services !== undefined) collectFromJson(services, false, found);
  return [...found].filter((s) => s.length >= MIN_SECRET_LENGTH && !PLAIN_WORD.test(s)).sort((a, b) => b.length - a.length);
}

/** Replaces each secret in `text` with ***. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let clean = text;
  for (const secret of secrets) if (secret.length >= MIN_SECRET_LENGTH && clean.includes(secret)) clean = clean.split(secret).join(MASK);
  return clean;
}

function collectFromJson(value: unknown, secretName: boolean, found: Set<string>): void {
  if (typeof value === 'string') {
    if (secretName) found.add(value.trim());
    addSpans(value, found);
  } else if (Array.isArray(value)) {
    for (const item of value) collectFromJson(item, secretName, found);
  } else if (isRecord(value)) {
    // A secret-named field makes its value secret; an object under it ("credentials": {…})
    // is searched field by field instead, or its bucket and endpoint would be hidden too.
    for (const [key, item] of Object.entries(value)) collectFromJson(item, isRecord(item) ? false : secretName || isSecretName(key), found);
  } else if (secretName && (typeof value === 'number' || typeof value === 'boolean')) {
    found.add(String(value));
  }
}

function addSpans(text: string, found: Set<string>): void {
  for (const [start, end] of secretSpans(text)) {
    const raw = text.slice(start, end);
    found.add(raw);
    try {
      found.add(decodeURIComponent(raw));
    } catch {
      // not valid percent-encoding: the raw form is all there is
    }
    // A JSON string value as the program will see it (escapes resolved).
    if (raw.includes('\\')) {
      try {
        found.add(JSON.parse(`"${raw}"`) as string);
      } catch {
        // not a JSON string
      }
    }
  }
}

const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);
const isSchemeChar = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46;

/**
 * `scheme://user:PASSWORD@host`: the password runs to the next `@` (AWS secrets contain `/`).
 * Linear: each user part is scanned once, and the next `@`-or-space is searched once per
 * stretch of text (remembered while the scan moves on).
 */
function urlPasswordSpans(text: string, withUser: boolean): Span[] {
  const spans: Span[] = [];
  let stop = -1; // the first '@' or space at or after `stopFrom`, or text.length
  let stopFrom = -1;
  for (let i = text.indexOf('://'); i !== -1; i = text.indexOf('://', i + 3)) {
    if (i === 0 || !isSchemeChar(text.charCodeAt(i - 1))) continue;
    let j = i + 3;
    for (; j < text.length; j++) {
      const c = text.charCodeAt(j);
      if (c === 47 || c === 64 || c === 58 || isSpace(c)) break; // / @ :
    }
    if (text.charCodeAt(j) !== 58) continue;
    const from = j + 1;
    if (stopFrom < 0 || stop < from) {
      stop = from;
      while (stop < text.length && text.charCodeAt(stop) !== 64 && !isSpace(text.charCodeAt(stop))) stop++;
      stopFrom = from;
    }
    if (stop < text.length && text.charCodeAt(stop) === 64 && stop > from) {
      if (withUser && j > i + 3) spans.push([i + 3, j]);
      spans.push([from, stop]);
    }
  }
  return spans;
}

/** A key at the start of the text or after a separator, then `=`: query strings, options, env-style pairs. */
const KEY_BEFORE_EQUALS = /(?:^|[\s?&;,])([\w.-]{1,128})=/g;

/** Values of secret-named `key=value` pairs; a quoted value runs to its closing quote. */
function keyValueSpans(text: string): Span[] {
  const spans: Span[] = [];
  KEY_BEFORE_EQUALS.lastIndex = 0;
  for (let m = KEY_BEFORE_EQUALS.exec(text); m; m = KEY_BEFORE_EQUALS.exec(text)) {
    const start = KEY_BEFORE_EQUALS.lastIndex;
    let end = start;
    const quote = text.charCodeAt(start);
    if (quote === 34 || quote === 39) {
      const close = text.indexOf(String.fromCharCode(quote), start + 1);
      end = close === -1 ? text.length : close + 1;
    } else {
      for (; end < text.length; end++) {
        const c = text.charCodeAt(end);
        if (isSpace(c) || c === 38 || c === 59 || c === 44 || c === 35) break; // & ; , #
      }
    }
    if (end > start && isSecretName(stripOptionDashes(m[1]!))) {
      spans.push([start, end]);
      KEY_BEFORE_EQUALS.lastIndex = end;
    }
    // Otherwise the scan goes on inside the value: -Durl=jdbc:…?password=…
  }
  return spans;
}

/** `-Ddb.pass` → `db.pass`, `--api-token` → `api-token`. */
function stripOptionDashes(key: string): string {
  return key.replace(/^(?:-D|--?)/, '');
}

const JSON_KEY = /"([^"\\\n]{1,128})"\s*:\s*"/g;

/** String values of secret-named JSON fields, escapes included. */
function jsonFieldSpans(text: string): Span[] {
  const spans: Span[] = [];
  JSON_KEY.lastIndex = 0;
  for (let m = JSON_KEY.exec(text); m; m = JSON_KEY.exec(text)) {
    const start = JSON_KEY.lastIndex;
    let end = start;
    while (end < text.length && text.charCodeAt(end) !== 34) end += text.charCodeAt(end) === 92 ? 2 : 1;
    end = Math.min(end, text.length);
    if (end > start && isSecretName(m[1]!)) spans.push([start, end]);
    JSON_KEY.lastIndex = Math.min(end + 1, text.length);
  }
  return spans;
}
