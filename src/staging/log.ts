// Staging output in libbuildpack's format, so our lines look native in `cf push` output:
// "-----> " starts a step, continuation lines are indented 7 spaces, warnings are marked.

export interface StagingLog {
  step(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  debug(message: string): void;
}

const INDENT = '       ';

export function createStagingLog(write: (text: string) => void, debugEnabled = false): StagingLog {
  const lines = (prefix: string, message: string) =>
    write(message.split('\n').map((line) => `${prefix}${line}`).join('\n') + '\n');
  return {
    step: (m) => lines('-----> ', m),
    info: (m) => lines(INDENT, m),
    warning: (m) => lines(`${INDENT}**WARNING** `, m),
    error: (m) => lines(`${INDENT}**ERROR** `, m),
    debug: (m) => (debugEnabled ? lines(`${INDENT}DEBUG: `, m) : undefined),
  };
}
