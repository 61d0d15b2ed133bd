// One line per event, fixed prefix, CR/LF escaped and credentials redacted, so that one
// event is exactly one line in `cf logs` and nothing secret leaks into the log stream.

export interface EventLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

import { maskSecretSpans, scrubSecrets } from '../config/secrets.ts';

const PREFIX = '[postmortem]';

/**
 * Hide credentials by their form: URL users and passwords (user:pass@), secret query parameters
 * (X-Amz-Signature=…, password=…), secret JSON fields. Linear in the message's length.
 */
export function redact(text: string): string {
  return maskSecretSpans(text, { urlUser: true });
}

export function oneLine(text: string): string {
  return text.replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}

export function createEventLog(write: (line: string) => void, secrets: readonly string[] = []): EventLog {
  const clean = (message: string): string => scrubSecrets(redact(oneLine(message)), secrets);
  return {
    info: (m) => write(`${PREFIX} ${clean(m)}\n`),
    warn: (m) => write(`${PREFIX} WARNING: ${clean(m)}\n`),
    error: (m) => write(`${PREFIX} ERROR: ${clean(m)}\n`),
  };
}

/** Collects events in memory (tests). */
export function memoryEventLog(): EventLog & { lines: string[] } {
  const lines: string[] = [];
  const log = createEventLog((line) => lines.push(line.trimEnd()));
  return Object.assign(log, { lines });
}
