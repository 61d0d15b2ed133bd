// Values that must never reach a log line: handed to the event log for redaction, and
// used as a last safety net over our own problem and warning messages.
import type { Env } from './types.ts';
import { isRecord, parseJsonObject } from './json.ts';

/** Shorter values would redact ordinary words; the event log applies the same floor. */
export const MIN_SECRET_LENGTH = 4;

/** Names (env variables and credential fields) whose values are secret. */
const SECRET_NAME = /secret|passw(or)?d|pwd|token|private_?key|api_?key|signature/i;
/** The shell's working-directory variables contain "PWD" but hold paths, not passwords. */
const NOT_SECRET = /^(OLD)?PWD$/;

/** The password part of `scheme://user:password@host`; unencoded `/` included (AWS secrets have them). */
const URL_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:([^\s@]+)@/gi;

/**
 * Every secret value in the environment, longest first (so a secret that contains another
 * is hidden whole): AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, other variables named like
 * SECRET, PASSWORD or TOKEN, secret-named credential fields of every bound service, and
 * passwords inside URLs.
 */
export function collectSecrets(env: Env): string[] {
  const found = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || name === 'VCAP_SERVICES') continue;
    if (SECRET_NAME.test(name) && !NOT_SECRET.test(name)) found.add(value.trim());
    addUrlPasswords(value, found);
  }
  const services = env.VCAP_SERVICES === undefined ? undefined : parseJsonObject(env.VCAP_SERVICES);
  if (services !== undefined) collectFromJson(services, false, found);
  return [...found].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

/** A variable or field whose name says its value is secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) && !NOT_SECRET.test(name);
}

/** Replaces each secret in `text` with ***. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let clean = text;
  for (const secret of secrets) if (secret.length >= MIN_SECRET_LENGTH) clean = clean.split(secret).join('***');
  return clean;
}

function collectFromJson(value: unknown, secretName: boolean, found: Set<string>): void {
  if (typeof value === 'string') {
    if (secretName) found.add(value.trim());
    addUrlPasswords(value, found);
  } else if (Array.isArray(value)) {
    for (const item of value) collectFromJson(item, secretName, found);
  } else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) collectFromJson(item, secretName || SECRET_NAME.test(key), found);
  }
}

function addUrlPasswords(text: string, found: Set<string>): void {
  for (const match of text.matchAll(URL_PASSWORD)) {
    const raw = match[1] ?? '';
    found.add(raw);
    try {
      found.add(decodeURIComponent(raw));
    } catch {
      // not valid percent-encoding: the raw form is all there is
    }
  }
}
