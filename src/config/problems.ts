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
  /** What we got, already made safe to print (see `shown`), or omitted. */
  received?: string;
  /** Joins setting and received: `X is "…"` for values, `service "s" has …` for states. */
  verb?: 'is' | 'has';
  expected: string;
  fix: string;
}

/** `SETTING is "x": expected …. Fix: ….` — the one shape of every problem message. */
export function problem(parts: ProblemParts): string {
  const got = parts.received === undefined ? '' : ` ${parts.verb ?? 'is'} ${parts.received}`;
  return `${parts.setting}${got}: expected ${parts.expected}. Fix: ${parts.fix}.`;
}

const MAX_SHOWN = 80;

/**
 * A non-secret value quoted for a message: control characters escaped, long values cut,
 * and any `user:password@` in a URL hidden, because people do paste credentials into URLs.
 */
export function shown(value: string): string {
  // Everything before the last `@` may be `user:password` (AWS secrets contain `/`, so
  // URL syntax cannot tell where it ends): hide it all, keep scheme and host.
  const safe = value.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^\s]*@/i, '$1***@');
  const cut = safe.length > MAX_SHOWN ? `${safe.slice(0, MAX_SHOWN)}…` : safe;
  return JSON.stringify(cut);
}
