// postStop hooks: the user's own scripts, run after a crash's evidence is stored, with
// where it went in their environment. Bounded in time; their output goes to our log; a
// hook that fails or hangs changes nothing else.
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import type { EventLog } from '../util/event-log.ts';

export const APP_HOOK = '.postmortem/post-stop';

export interface PostStopInput {
  command?: string;
  appDir: string;
  env: Record<string, string | undefined>;
  /** What the hook learns about the crash (POSTMORTEM_REPORT, POSTMORTEM_LOCATION, …). */
  crashEnv: Record<string, string>;
  deadlineMs: number;
  log: EventLog;
}

export async function runPostStopHooks(input: PostStopInput): Promise<void> {
  const hooks: { name: string; file: string; args: string[] }[] = [];
  if (input.command) hooks.push({ name: 'POSTMORTEM_POST_STOP', file: 'bash', args: ['-c', input.command] });
  const appHook = path.join(input.appDir, APP_HOOK);
  if (await access(appHook, constants.X_OK).then(() => true, () => false)) hooks.push({ name: APP_HOOK, file: appHook, args: [] });
  const started = Date.now();
  // Loaded only when a hook runs: execa is most of the watchdog's code (idle memory).
  if (hooks.length === 0) return;
  const { execa } = await import('execa');
  for (const hook of hooks) {
    const left = input.deadlineMs - (Date.now() - started);
    if (left <= 0) { input.log.warn(`post-stop ${hook.name} not run: no time left`); continue; }
    const run = execa(hook.file, hook.args, {
      cwd: input.appDir,
      env: { ...input.env, ...input.crashEnv },
      extendEnv: false,
      stdin: 'ignore',
      all: true,
      buffer: false,
      reject: false,
      timeout: left,
      forceKillAfterDelay: 1000,
    });
    // Whole lines only: a line written in two pieces is still one log line.
    let partial = '';
    run.all?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line) input.log.info(`post-stop ${hook.name}: ${line}`);
    });
    const result = await run;
    if (partial) input.log.info(`post-stop ${hook.name}: ${partial}`);
    if (result.timedOut) input.log.warn(`post-stop ${hook.name} stopped after ${Math.round(left / 1000)} s (POSTMORTEM_POST_STOP_TIMEOUT / the hold)`);
    else if (result.exitCode !== 0) input.log.warn(`post-stop ${hook.name} exited with ${result.exitCode ?? result.signal}`);
    else input.log.info(`post-stop ${hook.name} done`);
  }
}
