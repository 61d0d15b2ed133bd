// Composition root of the watchdog: `node watchdog.mjs -- <command…>`. The only watchdog
// code that reads argv, env and sets the exit code. If our configuration is broken the
// app still runs, supervised only, and one line says why.
import { buildpackVersion } from '../util/version.ts';
import { onExit } from 'signal-exit';
import { DEFAULTS, parseConfig, collectSecrets } from '../config/parse.ts';
import { ConfigError, type Config } from '../config/types.ts';
import { createEventLog } from '../util/event-log.ts';
import { runWatchdog } from '../watchdog/watchdog.ts';
import { controlStops } from '../watchdog/stop.ts';
import { exitStatusOf } from '../watchdog/death.ts';
import type { AppProcess } from '../watchdog/supervise.ts';
import { startApp } from '../watchdog/supervise.ts';
import { appEnvironment } from '../watchdog/app-env.ts';

// The SDK version is pinned; its "newer releases need Node 22" notice is not actionable here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const version = buildpackVersion(import.meta.url);

const separator = process.argv.indexOf('--');
const command = separator >= 0 ? process.argv.slice(separator + 1) : process.argv.slice(2);
const log = createEventLog((line) => process.stderr.write(line), collectSecrets(process.env));

let app: AppProcess | undefined;
// Last gasp: if the watchdog itself goes down, do not leave the app orphaned and unseen.
onExit(() => {
  if (app?.alive) {
    process.stderr.write('[postmortem] watchdog exiting while the app runs; sending it SIGTERM\n');
    app.signal('SIGTERM');
  }
});
process.on('uncaughtException', (error) => log.error(`watchdog bug (the app is not affected): ${error.stack ?? error.message}`));
process.on('unhandledRejection', (error) => log.error(`watchdog bug (the app is not affected): ${String(error)}`));

let config: Config | undefined;
try {
  config = parseConfig(process.env).config;
} catch (error) {
  const why = error instanceof ConfigError ? error.problems.join('; ') : String(error);
  log.warn(`crash capture is off: ${why}`);
}

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

let status: number;
if (config) {
  status = await runWatchdog({
    command,
    env: process.env,
    config,
    log,
    stdout: process.stdout,
    stderr: process.stderr,
    openStore: async () => {
      const [{ openStore }, { DEADLINE_BOUND_MAX_ATTEMPTS }] = await Promise.all([import('../store/open-store.ts'), import('../store/s3-store.ts')]);
      return openStore(config.store, { partSize: config.partSize, queueSize: config.queueSize, maxAttempts: DEADLINE_BOUND_MAX_ATTEMPTS, log });
    },
    now: () => new Date(),
    buildpackVersion: version,
    onSignal,
    onAppStarted: (started) => { app = started; },
    exit: (code) => process.exit(code),
  });
} else {
  // Supervise only: output through, signals forwarded, the stop deadline kept (default: the
  // settings could not be read), status passed on. No await before the handlers are in place.
  const plain = startApp({ command, env: appEnvironment(process.env), stdout: process.stdout, stderr: process.stderr });
  app = plain;
  let ended: { exitCode?: number; signal?: string } | undefined;
  const stop = controlStops({
    app: plain, deadlineMs: DEFAULTS.stopDeadlineMs, log, onSignal, onStop: () => undefined,
    onDeadline: () => process.exit(ended ? exitStatusOf(ended.exitCode, ended.signal) : exitStatusOf(undefined, 'SIGKILL')),
  });
  ended = await plain.exited;
  stop.dispose();
  status = exitStatusOf(ended.exitCode, ended.signal);
}
// At once: open sockets or watchers must not keep a dead instance's container alive, and a
// stop's deadline is counted from SIGTERM to this line (our output is written synchronously).
process.exit(status);
