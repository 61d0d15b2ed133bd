// The watchdog: supervises the app, streams evidence (heap dumps, fatal error logs, cores)
// to the store while it is being written, and after a death stores the log tail and the
// report, runs postStop hooks, holds the container for the grace period and exits with the
// app's own status. Capture problems are logged and never change what happens to the app.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Config, Env } from '../config/types.ts';
import { Crash } from '../capture/crash.ts';
import { appFilesArtifact, selectAppFiles } from '../capture/app-files.ts';
import { redactedEnvironment } from '../capture/environment.ts';
import { appPidFile } from '../capture/app-pid.ts';
import { EvidenceWatch, REASON_OF } from '../capture/evidence.ts';
import { LogTail } from '../capture/log-tail.ts';
import { runPostStopHooks } from '../capture/post-stop.ts';
import { prepareCapture } from '../capture/prepare.ts';
import type { Report } from '../capture/report.ts';
import { takeThreadDumps } from '../capture/thread-dump.ts';
import type { Store } from '../store/store.ts';
import type { EventLog } from '../util/event-log.ts';
import { appEnvironment } from './app-env.ts';
import { classifyDeath, type Death } from './death.ts';
import { holdContainer, type Hold } from './hold.ts';
import { startMemoryWatch } from './memory-watch.ts'; // [memory-watch]
import { OutputScanner } from './output-scanner.ts';
import { startApp, type AppProcess } from './supervise.ts';

export interface WatchdogDeps {
  command: string[];
  env: Env;
  config: Config;
  log: EventLog;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  openStore: () => Promise<Store>;
  now: () => Date;
  buildpackVersion: string;
  /** Registers a handler for a signal sent to the watchdog; returns a remover. */
  onSignal: (signal: NodeJS.Signals, handler: () => void) => () => void;
  /** Called once the app is started (for the last-gasp cleanup in the entry). */
  onAppStarted?: (app: AppProcess) => void;
  /** /proc/sys/kernel reader (tests state a core_pattern). */
  readKernel?: (name: 'core_pattern' | 'core_uses_pid') => Promise<string | undefined>;
}

export const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];
const STOP_SIGNALS = new Set<NodeJS.Signals>(['SIGTERM', 'SIGINT']);
/** After a stop request the platform SIGKILLs us 10 s later: finish well before that. */
const STOP_BUDGET_MS = 7000;
/** An app still running this long after SIGTERM is killed by us, so we exit before Diego's SIGKILL. */
const STOP_ESCALATION_MS = 8500;

export async function runWatchdog(deps: WatchdogDeps): Promise<number> {
  const { config, log, now } = deps;
  const startedAt = now();
  const appDir = deps.env.HOME ?? process.cwd();
  let store: Promise<Store> | undefined;
  const lazyStore = () => (store ??= deps.openStore());
  let appPid: number | undefined;
  const prepared = await prepareCapture({ config, env: deps.env, command: deps.command, appDir, log, appPid: () => appPid, ...(deps.readKernel ? { readKernel: deps.readKernel } : {}) });
  const childEnv = { ...appEnvironment(deps.env), ...prepared.env };
  const crashDeps = {
    config, store: lazyStore, log, now, buildpackVersion: deps.buildpackVersion, startedAt,
    environment: redactedEnvironment(childEnv), javaMajors: prepared.javaMajors,
  };

  // --- what we learn while the app runs
  let crash: Crash | undefined;
  let outOfMemory = false;
  let fatalError = false;
  let stopRequested = false;
  let hold: Hold | undefined;
  let onStop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => { onStop = resolve; });
  const tail = new LogTail(config.logTailBytes);
  const outputListeners = new Set<(chunk: Buffer) => void>();
  let threadDumps: Promise<string> | undefined;

  const crashFor = (reason: string) => (crash ??= new Crash(crashDeps, reason));
  const evidence = new EvidenceWatch({
    folders: prepared.folders,
    log,
    gzipLevel: config.gzipLevel,
    crashFor: (kind) => crashFor(REASON_OF[kind]),
    onEvidence: (kind) => {
      if (kind === 'heap') outOfMemory = true;
      if (kind === 'fatal-error-log') fatalError = true;
    },
  });
  await evidence.start();

  const scanner = new OutputScanner((event) => {
    if (event.kind === 'out-of-memory') outOfMemory = true;
    if (event.kind === 'fatal-error') fatalError = true;
    if (event.kind === 'heap-dump-written') {
      evidence.heapDumpsWritten();
      const current = crash;
      // A JVM may survive its OutOfMemoryError: then this crash is complete without a death.
      void current?.settled().then(async () => {
        if (app.alive && crash === current) {
          crash = undefined;
          log.info('the app is still running after its heap dump; writing the report now');
          await current.finish({ logTail: tail.snapshot() });
        }
      });
    }
  });

  // --- the app
  const app = startApp({
    command: prepared.command,
    env: childEnv,
    stdout: deps.stdout,
    stderr: deps.stderr,
    onOutput: (chunk) => {
      tail.push(chunk);
      scanner.feed(chunk);
      for (const listener of outputListeners) listener(chunk);
    },
  });
  appPid = app.pid;
  deps.onAppStarted?.(app);
  const watchOutput = (fn: (chunk: Buffer) => void) => { outputListeners.add(fn); return () => outputListeners.delete(fn); };

  const removers = FORWARDED.map((signal) => deps.onSignal(signal, () => {
    if (STOP_SIGNALS.has(signal)) {
      const first = !stopRequested;
      stopRequested = true;
      onStop();
      if (first) {
        const escalation = setTimeout(() => {
          if (!app.alive) return;
          log.warn(`the app did not stop within ${STOP_ESCALATION_MS / 1000} s of ${signal}; SIGKILL now, before the platform's`);
          app.signal('SIGKILL');
        }, STOP_ESCALATION_MS);
        void app.exited.then(() => clearTimeout(escalation));
      }
      if (hold) { hold.end(); return; }
      if (first && signal === 'SIGTERM' && config.threadDumpOnStop && app.alive) {
        // Thread dumps first (bounded wait), then the stop reaches the app.
        void takeThreadDumps(app.pid, watchOutput).then((capture) => {
          if (capture.jvms.length > 0) log.info(`stop requested: thread dump of JVM ${capture.jvms.join(', ')} before passing SIGTERM on`);
          threadDumps = capture.text;
          return capture.text;
        }, () => undefined).finally(() => { if (app.alive) app.signal(signal); });
        return;
      }
    }
    if (app.alive) app.signal(signal);
  }));

  // After the handlers: from the moment the app runs, a stop must find them in place.
  // `postmortem dump` in cf ssh finds the app through this file.
  await mkdir(config.dumpDir, { recursive: true }).then(() => writeFile(appPidFile(config), `${app.pid}\n`)).catch(() => undefined);
  const memoryWatch = await startMemoryWatch({ config, log, appPid: app.pid, newCrash: (reason) => new Crash(crashDeps, reason), logTail: () => tail.snapshot() }); // [memory-watch]

  const ended = await app.exited;
  memoryWatch.stop(); // [memory-watch]
  const diedAt = now();
  scanner.flush();
  await evidence.appExited();
  const death: Death = classifyDeath({ ...ended, stopRequested, outOfMemory, fatalError });
  log.info(`app ${death.summary}`);

  try {
    const threads = threadDumps ? await threadDumps : '';
    if (death.reason === 'stop' && !crash && !threads) {
      return death.exitStatus; // a normal stop of an app that is not a JVM: nothing to keep
    }
    const current = crashFor(death.reason);
    if (config.appFiles.length > 0 && death.reason !== 'stop') {
      const selection = await selectAppFiles(appDir, config.appFiles, config.appFilesMaxBytes);
      if (selection.leftOut.length > 0) log.warn(`app files past POSTMORTEM_APP_FILES_MAX left out: ${selection.leftOut.join(', ')}`);
      if (selection.files.length > 0) current.add(appFilesArtifact(appDir, selection.files));
    }
    if (threads) current.add({ name: 'threads.txt', source: Readable.from([Buffer.from(threads)]), contentType: 'text/plain; charset=utf-8', encoding: 'raw' });
    const finishing = current.finish({ death, diedAt, logTail: tail.snapshot() });
    // A stop (even one arriving while we upload) leaves STOP_BUDGET_MS before we must be gone.
    const stopBudgetEnds = stopped.then(() => Date.now() + STOP_BUDGET_MS);
    const budget = stopBudgetEnds.then((end) => new Promise<undefined>((r) => setTimeout(() => r(undefined), end - Date.now()).unref()));
    const report = await Promise.race([finishing, budget]);
    if (stopRequested && !report) log.warn('stopping before every upload finished; see the lines above for what is stored');
    const where = config.store.kind === 's3' ? `s3://${config.store.bucket}/${current.prefix}/` : path.join(config.store.root, current.prefix);
    if (report) {
      log.info(`evidence of this crash: ${where} (${report.artifacts.length} stored, ${report.failed.length} failed)`);
      log.info(`fetch it with: postmortem get ${current.prefix}${config.store.kind === 's3' ? ` (or aws s3 cp --recursive ${where} .)` : ''}`);
    }

    // postStop hooks run beside the hold and never outlast it (nor the stop budget).
    const holdMs = stopRequested ? 0 : config.graceMs;
    const hookDeadline = stopRequested
      ? Math.max(0, (await stopBudgetEnds) - Date.now())
      : holdMs > 0 ? Math.min(config.postStopTimeoutMs, holdMs) : config.postStopTimeoutMs;
    const hooks = report
      ? runHooks(config, appDir, childEnv, report, where, await writeLocalReport(config, report), hookDeadline, log)
      : Promise.resolve();
    if (holdMs > 0) {
      hold = holdContainer(holdMs);
      log.info(`holding this container for ${Math.round(holdMs / 1000)} s so you can look around: cf ssh ${config.app.name} -i ${config.app.instanceIndex} (a stop ends the hold)`);
      await hold.done;
      hold = undefined;
    } else {
      await hooks;
    }
  } catch (error) {
    log.error(`capture failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    for (const remove of removers) remove();
    await evidence.close().catch(() => undefined);
    await Promise.race([memoryWatch.settled(), stopped]); // [memory-watch] a capture from before the death finishes its report (not past a stop)
    if (store) (await store.catch(() => undefined))?.close();
  }
  return death.exitStatus;
}

async function writeLocalReport(config: Config, report: Report): Promise<string | undefined> {
  const file = path.join(config.dumpDir, 'last-crash', 'report.json');
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
    return file;
  } catch {
    return undefined;
  }
}

function runHooks(config: Config, appDir: string, env: Record<string, string | undefined>, report: Report, where: string, localReport: string | undefined, deadlineMs: number, log: EventLog): Promise<void> {
  return runPostStopHooks({
    ...(config.postStopCommand ? { command: config.postStopCommand } : {}),
    appDir,
    env,
    crashEnv: {
      POSTMORTEM_CRASH: report.crash,
      POSTMORTEM_LOCATION: where,
      POSTMORTEM_REASON: report.reason,
      POSTMORTEM_EXIT_STATUS: String(report.exit?.status ?? ''),
      ...(localReport ? { POSTMORTEM_REPORT: localReport } : {}),
    },
    deadlineMs,
    log,
  }).catch((error: unknown) => log.warn(`post-stop hooks failed: ${error instanceof Error ? error.message : String(error)}`));
}
