// postStop hooks: the user's own scripts, run after a crash's evidence is stored, with
// where it went in their environment. Each runs in its own process group and is bounded:
// at its time limit (or a stop) the whole group is killed, and we stop waiting for it right
// then, even when something it started keeps its output open. A hook that fails or hangs
// changes nothing else.
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import type { EventLog } from '../util/event-log.ts';
import { reasonOf, whenAborted, type Deadline } from '../util/deadline.ts';

export const APP_HOOK = '.postmortem/post-stop';

export interface PostStopInput {
  command?: string;
  appDir: string;
  env: Record<string, string | undefined>;
  /** What the hook learns about the crash (POSTMORTEM_REPORT, POSTMORTEM_LOCATION, …). */
  crashEnv: Record<string, string>;
  /** All hooks together end here (the time limit, the hold, or a stop). */
  deadline: Deadline;
  log: EventLog;
}

export async function runPostStopHooks(input: PostStopInput): Promise<void> {
  const hooks: { name: string; file: string; args: string[] }[] = [];
  if (input.command) hooks.push({ name: 'POSTMORTEM_POST_STOP', file: 'bash', args: ['-c', input.command] });
  const appHook = path.join(input.appDir, APP_HOOK);
  if (await access(appHook, constants.X_OK).then(() => true, () => false)) hooks.push({ name: APP_HOOK, file: appHook, args: [] });
  const { deadline, log } = input;
  // Loaded only when a hook runs: execa is a large share of the watchdog's idle memory.
  if (hooks.length === 0) return;
  const { execa } = await import('execa');
  for (const hook of hooks) {
    if (deadline.signal.aborted) { log.warn(`post-stop ${hook.name} not run: ${reasonOf(deadline.signal)}`); continue; }
    const run = execa(hook.file, hook.args, {
      cwd: input.appDir,
      env: { ...input.env, ...input.crashEnv },
      extendEnv: false,
      stdin: 'ignore',
      all: true,
      buffer: false,
      reject: false,
      detached: true, // its own process group: whatever it starts is killed with it
      cleanup: false,
    });
    // Whole lines only: a line written in two pieces is still one log line.
    let partial = '';
    run.all?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line) log.info(`post-stop ${hook.name}: ${line}`);
    });
    // The hook's own exit, not the end of its output (a child it left behind may hold that).
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      run.once('exit', (code, signal) => resolve({ code, signal }));
      run.once('error', () => resolve({ code: null, signal: null }));
    });
    run.catch(() => undefined);
    const outcome = await Promise.race([exited, whenAborted(deadline.signal).then(() => 'deadline' as const)]);
    killGroup(run.pid);
    if (partial) log.info(`post-stop ${hook.name}: ${partial}`);
    if (outcome === 'deadline') log.warn(`post-stop ${hook.name} killed (with everything it started): ${reasonOf(deadline.signal)}`);
    else if (outcome.code !== 0) log.warn(`post-stop ${hook.name} exited with ${outcome.code ?? outcome.signal ?? 'an error'}`);
    else log.info(`post-stop ${hook.name} done`);
  }
}

/** SIGKILL to the hook's process group: children it left running go too. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try { process.kill(-pid, 'SIGKILL'); } catch { /* the group is gone already */ }
}
