// Composition root of the watchdog, loaded by src/entry/watchdog.ts (`node watchdog.mjs --
// <command…>`, exec'd by the start command the profile.d script wrote). The only watchdog
// code that reads argv, env and sets the exit code. It checks the settings itself (no separate Node.js start at launch); if
// they are broken, or anything of ours fails before the app runs, it hands its process to
// the app's command unwrapped (unwrap.ts), with one line saying why.
import { writeSync } from 'node:fs';
import { onExit } from 'signal-exit';
import { DEFAULTS, parseConfig, collectSecrets } from '../config/parse.ts';
import { ConfigError, type Config } from '../config/types.ts';
import { appShareNotice } from '../config/memory-limit.ts';
import { createEventLog } from '../util/event-log.ts';
import { runWatchdog } from '../watchdog/watchdog.ts';
import { controlStops } from '../watchdog/stop.ts';
import { exitStatusOf } from '../watchdog/death.ts';
import type { AppProcess } from '../watchdog/supervise.ts';
import { startApp } from '../watchdog/supervise.ts';
import { unwrappedEnvironment } from '../watchdog/app-env.ts';
import { execInstead } from '../watchdog/unwrap.ts';
import { takeOutputPipes } from '../watchdog/output-pipes.ts';
import { releasePausedWriters } from '../util/paused-writers.ts';

/** Runs the watchdog to its end: the process exits with the app's status. version: the buildpack's. */
export async function runWatchdogProcess(version: string): Promise<void> {
  // The app's environment as the start command left it, before we add anything of ours.
  const launchEnv = { ...process.env };
  // Before anything can fail: the app must never inherit the start command's pipe descriptors.
  const pipes = takeOutputPipes(process.env);
  // The SDK version is pinned; its "newer releases need Node 22" notice is not actionable here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

  const separator = process.argv.indexOf('--');
  const command = separator >= 0 ? process.argv.slice(separator + 1) : process.argv.slice(2);

  // process.stdout/stderr are opened only when the app's output is relayed: opening them makes
  // fds 1 and 2 non-blocking, which an app exec'd in our place would inherit. Until then our
  // lines go out with plain blocking writes.
  let streamsOpen = false;
  const stdio = {
    get stdout(): NodeJS.WriteStream { streamsOpen = true; return process.stdout; },
    get stderr(): NodeJS.WriteStream { streamsOpen = true; return process.stderr; },
  };
  const writeLine = (line: string) => {
    if (!streamsOpen) {
      try {
        const bytes = Buffer.from(line);
        for (let done = 0; done < bytes.length;) done += writeSync(2, bytes, done);
        return;
      } catch { /* fd 2 non-blocking and full (EAGAIN): through the stream instead */ }
    }
    stdio.stderr.write(line);
  };
  const log = createEventLog(writeLine, collectSecrets(process.env));

  let app: AppProcess | undefined;
  // Last gasp: if the watchdog itself goes down, do not leave the app orphaned and unseen.
  onExit(() => {
    releasePausedWriters(); // never leave a dump writer paused behind us
    if (app?.alive) {
      writeLine('[postmortem] watchdog exiting while the app runs; sending it SIGTERM\n');
      app.signal('SIGTERM');
    }
  });
  process.on('uncaughtException', (error) => {
    if (app || streamsOpen) log.error(`watchdog bug (the app is not affected): ${error.stack ?? error.message}`);
    // Before the app runs: the app in our place; where that cannot be, the start goes on.
    else log.error(`watchdog bug before the app started, not handed over (${handOver(`watchdog bug before the app started: ${error.stack ?? error.message}`)})`);
  });
  process.on('unhandledRejection', (error) => log.error(`watchdog bug (the app is not affected): ${String(error)}`));

  const handlers = new Map<NodeJS.Signals, Set<() => void>>();
  const onSignal = (signal: NodeJS.Signals, handler: () => void) => {
    let set = handlers.get(signal);
    if (!set) {
      set = new Set();
      handlers.set(signal, set);
      const listeners = set;
      process.on(signal, () => { for (const h of listeners) h(); });
    }
    set.add(handler);
    return () => set.delete(handler);
  };

  /** The app's command in our place, unwrapped (never returns); else why that cannot be. */
  function handOver(why: string): string {
    log.warn(`crash capture is off, the app runs as without the buildpack: ${why}`);
    return streamsOpen ? 'the app\'s output is already relayed' : execInstead(command, unwrappedEnvironment(launchEnv));
  }

  /** The app in our place or, where that cannot be, supervised only. */
  function unwrap(why: string): Promise<number> {
    log.warn(`the app runs supervised only (${handOver(why)})`);
    return superviseOnly(unwrappedEnvironment(launchEnv));
  }

  /** Output through, signals forwarded, the default stop deadline kept, status passed on. */
  async function superviseOnly(env: Record<string, string>): Promise<number> {
    // No await before the handlers are in place.
    const plain = startApp({ command, env, stdout: stdio.stdout, stderr: stdio.stderr, ...(pipes ? { pipes } : {}) });
    app = plain;
    let ended: { exitCode?: number; signal?: string } | undefined;
    const stop = controlStops({
      app: plain, deadlineMs: DEFAULTS.stopDeadlineMs, log, onSignal, onStop: () => undefined,
      onDeadline: () => process.exit(ended ? exitStatusOf(ended.exitCode, ended.signal) : exitStatusOf(undefined, 'SIGKILL')),
    });
    ended = await plain.exited;
    stop.dispose();
    return exitStatusOf(ended.exitCode, ended.signal);
  }

  let config: Config | undefined;
  let status: number;
  try {
    const parsed = parseConfig(process.env);
    config = parsed.config;
    for (const warning of parsed.warnings) log.warn(warning);
    const notice = appShareNotice(process.env, config.memoryReserve);
    if (notice) log.info(notice);
  } catch (error) {
    config = undefined;
    status = await unwrap(error instanceof ConfigError ? `invalid settings: ${error.problems.join('; ')}` : `settings check failed: ${String(error)}`);
  }
  if (config) {
    const settings = config;
    try {
      status = await runWatchdog({
        command,
        env: process.env,
        config: settings,
        log,
        get stdout() { return stdio.stdout; },
        get stderr() { return stdio.stderr; },
        ...(pipes ? { pipes } : {}),
        openStore: async () => {
          const [{ openStore }, { DEADLINE_BOUND_MAX_ATTEMPTS }] = await Promise.all([import('../store/open-store.ts'), import('../store/s3-store.ts')]);
          return openStore(settings.store, { partSize: settings.partSize, queueSize: settings.queueSize, maxAttempts: DEADLINE_BOUND_MAX_ATTEMPTS, log });
        },
        now: () => new Date(),
        buildpackVersion: version,
        onSignal,
        onAppStarted: (started) => { app = started; },
        exit: (code) => process.exit(code),
      });
    } catch (error) {
      const why = error instanceof Error ? error.stack ?? error.message : String(error);
      if (!app) status = await unwrap(`watchdog failed before the app started: ${why}`);
      else {
        log.error(`watchdog failed (the app is not affected): ${why}`);
        const ended = await app.exited;
        status = exitStatusOf(ended.exitCode, ended.signal);
      }
    }
  }
  // At once: open sockets or watchers must not keep a dead instance's container alive, and a
  // stop's deadline is counted from SIGTERM to this line (our output is written synchronously).
  process.exit(status!);
}
