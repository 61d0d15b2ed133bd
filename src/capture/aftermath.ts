// What happens after the app is gone, in one place: app files and thread dumps join the
// crash, the crash finishes (report in progress, artifacts, log tail, final report), and
// the postStop hooks start. Everything is bounded by the crash's deadline
// (POSTMORTEM_UPLOAD_TIMEOUT) and, on a stop, by the stop's signals.
import { Readable } from 'node:stream';
import type { Config } from '../config/types.ts';
import type { EventLog } from '../util/event-log.ts';
import { deadlineAt } from '../util/deadline.ts';
import { appFilesArtifact, selectAppFiles } from './app-files.ts';
import { localReportPath, uploadBudget, type CrashSlot } from './crash.ts';
import type { Death, ObservedState } from './observed.ts';
import { runPostStopHooks } from './post-stop.ts';
import type { Report } from './report.ts';

export interface AftermathInput {
  config: Config;
  log: EventLog;
  now: () => number;
  appDir: string;
  /** The app's environment, for the hooks. */
  env: Record<string, string | undefined>;
  observed: ObservedState;
  death: Death;
  crashes: CrashSlot;
  logTail: Buffer;
  /** A stop's signals: give up uploads / end all work (stop.ts), and when uploads are given up. */
  stop: { uploads: AbortSignal; all: AbortSignal; uploadsLeft?: () => number | undefined };
  /** How long the container is held afterwards; hooks may run beside the hold. */
  holdMs: number;
}

export interface Aftermath {
  report: Report | undefined;
  /** The postStop hooks, already running; settles by their deadline. */
  hooks: Promise<void>;
}

/** undefined when there is nothing to keep (a plain stop of an app that is not a JVM). */
export async function aftermath(input: AftermathInput): Promise<Aftermath | undefined> {
  const { config, log, death } = input;
  const threads = await input.observed.threadDumps;
  if (death.reason === 'stop' && !input.crashes.current && !threads) return undefined;
  const crash = input.crashes.for(death.reason);
  // The crash's deadline counts from here: choosing the app files is bounded by it too.
  const budget = uploadBudget(config, input.now, input.stop);
  if (config.appFiles.length > 0 && death.reason !== 'stop') {
    const selection = await selectAppFiles(input.appDir, config.appFiles, config.appFilesMaxBytes, budget.uploads.signal);
    if (selection.stopped) log.warn(`looking for the app files of POSTMORTEM_APP_FILES ended early (${selection.stopped}): ${selection.files.length > 0 ? `storing the ${selection.files.length} found by then` : 'none stored'}`);
    if (selection.leftOut.length > 0) log.warn(`app files past POSTMORTEM_APP_FILES_MAX left out: ${selection.leftOut.join(', ')}`);
    if (selection.files.length > 0) crash.add(appFilesArtifact(input.appDir, selection.files));
  }
  if (threads) crash.add({ name: 'threads.txt', source: Readable.from([Buffer.from(threads)]), contentType: 'text/plain; charset=utf-8', encoding: 'raw' });

  const report = await crash.finish({ death, ...(input.observed.diedAt ? { diedAt: input.observed.diedAt } : {}), logTail: input.logTail }, budget);
  if (!report) return { report, hooks: Promise.resolve() };
  const where = await crash.location();
  const tally = evidenceTally(report.artifacts, report.failed.length);
  (tally.allGood ? log.info : log.warn).call(log, `evidence of this crash: ${where} (${tally.words})`);
  log.info(`fetch it with: postmortem get ${crash.prefix}${where.startsWith('s3://') ? ` (or aws s3 cp --recursive ${where} .)` : ''}`);

  // Hooks end by their own limit, and by the end of the hold they run beside (without a
  // hold: by the crash's deadline).
  const hookLimit = input.now() + config.postStopTimeoutMs;
  const outer = input.holdMs > 0 ? input.now() + input.holdMs : budget.all.at;
  const hookDeadline = deadlineAt(
    Math.min(hookLimit, outer),
    hookLimit <= outer ? `POSTMORTEM_POST_STOP_TIMEOUT (${Math.round(config.postStopTimeoutMs / 1000)} s) reached` : input.holdMs > 0 ? 'the hold ended' : 'POSTMORTEM_UPLOAD_TIMEOUT reached',
    input.now,
    [input.stop.all],
  );
  const hooks = runPostStopHooks({
    ...(config.postStopCommand ? { command: config.postStopCommand } : {}),
    appDir: input.appDir,
    env: input.env,
    crashEnv: {
      POSTMORTEM_CRASH: report.crash,
      POSTMORTEM_LOCATION: where,
      POSTMORTEM_REASON: report.reason,
      POSTMORTEM_EXIT_STATUS: String(report.exit?.status ?? ''),
      POSTMORTEM_REPORT: localReportPath(config),
    },
    deadline: hookDeadline,
    log,
  }).catch((error: unknown) => log.warn(`post-stop hooks failed: ${error instanceof Error ? error.message : String(error)}`));
  return { report, hooks };
}

/** The summary's counts, never calling an incomplete or unverified artifact simply "stored". */
export function evidenceTally(artifacts: readonly { complete: boolean; verified: boolean }[], failed: number): { words: string; allGood: boolean } {
  const incomplete = artifacts.filter((a) => !a.complete).length;
  const unverified = artifacts.filter((a) => a.complete && !a.verified).length;
  const good = artifacts.length - incomplete - unverified;
  const parts = [
    `${good} stored and verified`,
    ...(incomplete > 0 ? [`${incomplete} stored but INCOMPLETE`] : []),
    ...(unverified > 0 ? [`${unverified} stored but not verified`] : []),
    `${failed} failed`,
  ];
  return { words: parts.join(', '), allGood: incomplete === 0 && unverified === 0 && failed === 0 };
}
