// One line per event, fixed prefix, CR/LF escaped and credentials redacted, so that one
// event is exactly one line in `cf logs` and nothing secret leaks into the log stream.

export interface EventLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

import { scrubSecrets } from '../config/secrets.ts';

const PREFIX = '[postmortem]';

/** Hide credentials in URLs (user:pass@) and in query strings (X-Amz-Signature=…). */
export function redact(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s:]+:[^/@\s]+@/gi, '$1***:***@')
    .replace(/((?:X-Amz-(?:Signature|Credential|Security-Token))=)[^&\s]+/gi, '$1***');
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
