// How configuration mistakes are collected and worded. Every reader appends to one
// Findings so parseConfig can report all problems at once, not just the first.

export interface Findings {
  /** Mistakes that make the configuration unusable; become one ConfigError. */
  problems: string[];
  /** Things worth telling the user that do not stop us. */
  warnings: string[];
}

export function newFindings(): Findings {
  return { problems: [], warnings: [] };
}

export interface ProblemParts {
  /** The setting, e.g. `POSTMORTEM_GRACE` or `service "dumps" (VCAP_SERVICES)`. */
  setting: string;
  /** What we got, already made safe to print (see `shown`/`secretShown`), or omitted. */
  received?: string;
  expected: string;
  fix: string;
}

/** `SETTING is "x": expected …. Fix: ….` — the one shape of every problem message. */
export function problem(parts: ProblemParts): string {
  const got = parts.received === undefined ? '' : ` is ${parts.received}`;
  return `${parts.setting}${got}: expected ${parts.expected}. Fix: ${parts.fix}.`;
}

const MAX_SHOWN = 80;

/**
 * A non-secret value quoted for a message: control characters escaped, long values cut,
 * and any `user:password@` in a URL hidden, because people do paste credentials into URLs.
 */
export function shown(value: string): string {
  // `user:password@`, with or without a scheme in front.
  const safe = value.replace(/[^\s/@]*:[^\s/@]*@/g, '***@');
  const cut = safe.length > MAX_SHOWN ? `${safe.slice(0, MAX_SHOWN)}…` : safe;
  return JSON.stringify(cut);
}

/** A secret is never printed; only whether it is there. */
export function secretShown(value: string | undefined): string {
  return value === undefined || value === '' ? 'empty' : 'set (value hidden)';
}
