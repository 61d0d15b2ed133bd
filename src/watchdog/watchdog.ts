// The watchdog: supervises the app, streams heap dumps to the store while the JVM is still
// writing them, and after a death stores the log tail and the report, holds the container
// for the grace period, and exits with the app's own status. Capture problems are logged
// and never change what happens to the app.
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Config, Env } from '../config/types.ts';
import { Crash } from '../capture/crash.ts';
import { HEAP_DUMP_NAME, watchDumpFolders, type DumpFolderWatch } from '../capture/dump-folder.ts';
import { followGrowingFile, type FollowedFile } from '../capture/growing-file.ts';
import { javaToolOptions, userHeapDumpPaths } from '../capture/java-options.ts';
import { findJavaMajors } from '../capture/java-version.ts';
import { LogTail } from '../capture/log-tail.ts';
import type { Store } from '../store/store.ts';
import type { EventLog } from '../util/event-log.ts';
import { appEnvironment } from './app-env.ts';
import { classifyDeath, type Death } from './death.ts';
import { holdContainer, type Hold } from './hold.ts';
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
}

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];
const STOP_SIGNALS = new Set<NodeJS.Signals>(['SIGTERM', 'SIGINT']);
/** After a stop request the platform SIGKILLs us 10 s later: finish well before that. */
const STOP_BUDGET_MS = 7000;

export async function runWatchdog(deps: WatchdogDeps): Promise<number> {
  const { config, log, now } = deps;
  const startedAt = now();
  const heapDir = path.join(config.dumpDir, 'heap');
  let store: Promise<Store> | undefined;
  const lazyStore = () => (store ??= deps.openStore());
  const crashDeps = { config, store: lazyStore, log, now, buildpackVersion: deps.buildpackVersion, startedAt };

  const childEnv = appEnvironment(deps.env);
  let addedJavaOptions: string | undefined;
  const watchedFolders: string[] = [];
  if (config.java) {
    try {
      await mkdir(heapDir, { recursive: true });
      const majors = await findJavaMajors(deps.env, deps.env.HOME ?? process.cwd());
      // HeapDumpGzipLevel exists from JDK 17; an unknown -XX flag stops a JVM from starting.
      const jvmGzip = majors.length > 0 && majors.every((m) => m >= 17) ? config.gzipLevel : 0;
      childEnv.JAVA_TOOL_OPTIONS = javaToolOptions({ existing: deps.env.JAVA_TOOL_OPTIONS, heapDumpDir: heapDir, jvmGzipLevel: jvmGzip });
      addedJavaOptions = childEnv.JAVA_TOOL_OPTIONS;
      watchedFolders.push(heapDir);
      for (const own of userHeapDumpPaths(deps.env.JAVA_OPTS, deps.env.JAVA_TOOL_OPTIONS)) watchedFolders.push(own);
    } catch (error) {
      log.warn(`heap dumps not enabled: ${message(error)}`);
    }
  }

  // --- what we learn while the app runs
  let crash: Crash | undefined;
  let outOfMemory = false;
  let fatalError = false;
  let stopRequested = false;
  let hold: Hold | undefined;
  let onStop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => { onStop = resolve; });
  const followers = new Set<FollowedFile>();
  let dumpCount = 0;
  const tail = new LogTail(config.logTailBytes);

  const startCrash = (reason: string) => (crash ??= new Crash(crashDeps, reason));
  const completions = new Map<FollowedFile, () => void>();
  const completeFollowers = () => {
    for (const f of followers) { f.complete(); completions.get(f)?.(); completions.delete(f); }
    followers.clear();
  };

  const scanner = new OutputScanner((event) => {
    if (event.kind === 'out-of-memory') outOfMemory = true;
    if (event.kind === 'fatal-error') fatalError = true;
    if (event.kind === 'heap-dump-written') {
      completeFollowers();
      const current = crash;
      // A JVM may survive its OutOfMemoryError: then this crash is complete without a death.
      void current?.settled().then(async () => {
        if (app.alive && crash === current) {
          crash = undefined;
          log.info('the app is still running after its heap dump; writing the report now');
          await current.finish({ logTail: tail.snapshot(), ...(addedJavaOptions ? { javaToolOptions: addedJavaOptions } : {}) });
        }
      });
    }
  });

  const handledDumps = new Set<string>();
  const onHeapDump = (file: string) => {
    if (handledDumps.has(file)) return;
    handledDumps.add(file);
    outOfMemory = true;
    dumpCount += 1;
    const gz = file.endsWith('.gz');
    const name = `heap${dumpCount > 1 ? `-${dumpCount}` : ''}.hprof${gz ? '.gz' : ''}`;
    log.info(`heap dump appeared: ${file}; streaming it to ${config.store.kind === 's3' ? 'the store' : 'the folder'} while the JVM writes it`);
    let written = false;
    const followed = followGrowingFile(file, { onQuiet: () => log.warn(`${file} stopped growing without the JVM saying it is complete; storing what is there`) });
    followers.add(followed);
    completions.set(followed, () => { written = true; });
    startCrash('oom').add({
      name,
      source: followed.stream,
      contentType: 'application/octet-stream',
      encoding: gz ? 'already-gzip' : config.gzipLevel > 0 ? 'compress' : 'raw',
      gzipLevel: config.gzipLevel,
    }, { localPath: file, totalBytes: async () => (written ? (await stat(file)).size : undefined) });
  };

  let folders: DumpFolderWatch | undefined;
  if (watchedFolders.length > 0) {
    folders = watchDumpFolders(watchedFolders, onHeapDump);
    await folders.ready;
  }

  // --- the app
  const app = startApp({
    command: deps.command,
    env: childEnv,
    stdout: deps.stdout,
    stderr: deps.stderr,
    onOutput: (chunk) => { tail.push(chunk); scanner.feed(chunk); },
  });
  deps.onAppStarted?.(app);
  const removers = FORWARDED.map((signal) => deps.onSignal(signal, () => {
    if (STOP_SIGNALS.has(signal)) {
      stopRequested = true;
      onStop();
      if (hold) { hold.end(); return; }
    }
    if (app.alive) app.signal(signal);
  }));

  const ended = await app.exited;
  const diedAt = now();
  scanner.flush();
  // A dump the watcher did not report (written in the last instant) is collected now.
  for (const folder of watchedFolders) {
    for (const name of await readdir(folder).catch(() => [] as string[])) {
      if (HEAP_DUMP_NAME.test(name)) onHeapDump(path.join(folder, name));
    }
  }
  completeFollowers();
  const death: Death = classifyDeath({ ...ended, stopRequested, outOfMemory, fatalError });
  log.info(`app ${death.summary}`);

  try {
    if (death.reason === 'stop' && !crash) {
      return death.exitStatus; // a normal stop: nothing to keep
    }
    const current = startCrash(death.reason);
    const finishing = current.finish({ death, diedAt, logTail: tail.snapshot(), ...(addedJavaOptions ? { javaToolOptions: addedJavaOptions } : {}) });
    // A stop (even one arriving while we upload) leaves STOP_BUDGET_MS before we must be gone.
    const budget = stopped.then(() => new Promise<undefined>((r) => setTimeout(() => r(undefined), STOP_BUDGET_MS).unref()));
    const report = await Promise.race([finishing, budget]);
    if (stopRequested && !report) log.warn('stopping before every upload finished; see the lines above for what is stored');
    if (report) {
      const where = config.store.kind === 's3' ? `s3://${config.store.bucket}/${current.prefix}/` : path.join(config.store.root, current.prefix);
      log.info(`evidence of this crash: ${where} (${report.artifacts.length} stored, ${report.failed.length} failed)`);
      log.info(`fetch it with: postmortem get ${current.prefix}${config.store.kind === 's3' ? ` (or aws s3 cp --recursive ${where} .)` : ''}`);
    }
    if (!stopRequested && config.graceMs > 0) {
      hold = holdContainer(config.graceMs);
      log.info(`holding this container for ${Math.round(config.graceMs / 1000)} s so you can look around: cf ssh ${config.app.name} -i ${config.app.instanceIndex} (a stop ends the hold)`);
      await hold.done;
      hold = undefined;
    }
  } catch (error) {
    log.error(`capture failed: ${message(error)}`);
  } finally {
    for (const remove of removers) remove();
    await folders?.close().catch(() => undefined);
    if (store) (await store.catch(() => undefined))?.close();
  }
  return death.exitStatus;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
