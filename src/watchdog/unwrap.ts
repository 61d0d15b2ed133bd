// Fail open at start: the watchdog replaces itself (execve, same PID) with the app's own
// command, so the container's top process is then bash or the app, exactly as without the
// buildpack. Possible only before the app started and before process.stdout/stderr were
// opened (Node.js makes those file descriptors non-blocking, which the app would inherit).
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

type Execve = (file: string, args: string[], env: Record<string, string>) => never;

/** Returns why the command could not replace this process; on success it never returns. */
export function execInstead(command: string[], env: Record<string, string>): string {
  const execve = (process as unknown as { execve?: Execve }).execve;
  if (typeof execve !== 'function') return `Node.js ${process.version} cannot hand its process over (process.execve needs 22.15 or newer)`;
  const [name] = command;
  const file = name === undefined ? undefined : findOnPath(name, env.PATH);
  if (file === undefined) return `${JSON.stringify(name)} not found on PATH`;
  // Node.js ignores SIGPIPE and SIGXFSZ; an ignored signal stays ignored across execve, a
  // handled one is reset to its default: handled here, so the app gets them as without us.
  for (const signal of ['SIGPIPE', 'SIGXFSZ'] as const) process.on(signal, () => undefined);
  try {
    execve.call(process, file, command, env);
  } catch (error) {
    return `exec ${file} failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  return 'exec returned';
}

function findOnPath(name: string, searchPath: string | undefined): string | undefined {
  const candidates = name.includes('/') ? [name] : (searchPath ?? '/usr/bin:/bin').split(':').map((dir) => path.join(dir || '.', name));
  return candidates.find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
