// One crash's evidence on its way to the store: a fixed folder (crash prefix), artifacts
// streamed in as they appear, and the report. The report is written first as "in progress"
// (small and fast, here and in the store) and rewritten at the end, so a stop mid-upload
// still leaves one that says what was and was not stored. A failed artifact is logged with
// where it still is; the report never claims something that is not stored. Everything
// ends by the crash's deadline (POSTMORTEM_UPLOAD_TIMEOUT, or sooner on a stop).
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/types.ts';
import { formatBytes } from '../config/units.ts';
import type { Store } from '../store/store.ts';
import { appPrefixOf, crashPrefix, logTailKey, reportKey } from '../store/keys.ts';
import type { ArtifactRecord, ArtifactSpec } from '../store/pipeline.ts';
import type { EventLog } from '../util/event-log.ts';
import type { Death } from './observed.ts';
import type { FailedArtifact, Report } from './report.ts';
import { buildReport } from './report.ts';
import { claimDumpSlot } from './crash-loop.ts';
import type { DiskUse } from './growing-file.ts';
import type { HeapHistogramTap, HistogramSummary } from './heap-histogram.ts';
import { deadlineIn, reasonOf, whenAborted, type Deadline } from '../util/deadline.ts';

type Uploading = typeof import('./uploading.ts');
let uploadingModule: Promise<Uploading> | undefined;
/** Set once loaded: a report names histograms only after they were computed with it. */
let loaded: Uploading | undefined;
/** The upload path, loaded by the first crash that stores anything (never by an idle watchdog). */
function uploading(): Promise<Uploading> {
  return (uploadingModule ??= import('./uploading.ts').then((m) => (loaded = m)));
}

/** Where the latest crash's report is kept in the container (the hooks get this path). */
export function localReportPath(config: Pick<Config, 'dumpDir'>): string {
  return path.join(config.dumpDir, 'last-crash', 'report.json');
}

/** The crash's deadlines: artifacts are abandoned at `uploads`, everything ends by `all`. */
export interface CrashBudget {
  uploads: Deadline;
  all: Deadline;
}

/** Time kept after the uploads' deadline for the log tail and the final report. */
export function reportReserveMs(totalMs: number): number {
  return Math.min(10_000, Math.max(0, Math.round(totalMs / 4)));
}

/** The budget of a crash that has only its own deadline (POSTMORTEM_UPLOAD_TIMEOUT). */
export function uploadBudget(
  config: Pick<Config, 'uploadTimeoutMs'>,
  now: () => number,
  parents: { uploads?: AbortSignal; all?: AbortSignal; uploadsLeft?: () => number | undefined } = {},
): CrashBudget {
  const limit = `POSTMORTEM_UPLOAD_TIMEOUT (${Math.round(config.uploadTimeoutMs / 1000)} s)`;
  const all = deadlineIn(config.uploadTimeoutMs, `${limit} reached`, now, parents.all ? [parents.all] : []);
  const uploads = all.before(reportReserveMs(config.uploadTimeoutMs), `${limit} nearly reached: the rest is kept for the report`, parents.uploads ? [parents.uploads] : []);
  // A stop requested later abandons the uploads sooner (stop.ts): time left is whichever is first.
  const left = () => Math.min(uploads.left(), parents.uploadsLeft?.() ?? Infinity);
  return { uploads: { ...uploads, left }, all };
}

export interface CrashDeps {
  config: Config;
  store: () => Promise<Store>;
  log: EventLog;
  now: () => Date;
  buildpackVersion: string;
  startedAt: Date;
  progressEveryMs?: number;
  /** The app's environment with secrets removed, for the report. */
  environment?: Record<string, string>;
  javaMajors?: number[];
}

export interface AddArtifactOptions {
  /** Local file to delete once it is safely stored (frees the container's disk quota). */
  localPath?: string;
  /** Where the evidence still is when the upload fails. */
  keepNote?: string;
  /** The content's full size once it is known (a dump the JVM finished), for % and ETA. */
  totalBytes?: () => Promise<number | undefined>;
  /** A heap dump or core: counts against the crash-loop limit (crash-loop.ts). */
  big?: boolean;
  /** What of localPath was punched out behind the upload: those bytes live only in the upload. */
  punched?: () => DiskUse;
}

export class Crash {
  readonly prefix: string;
  readonly detectedAt: Date;
  private readonly stored: ArtifactRecord[] = [];
  private readonly failed: FailedArtifact[] = [];
  /** Uploads still running: their name, and where the evidence is meanwhile. */
  private readonly pending = new Map<Promise<void>, { name: string; localPath?: string }>();
  /** Heap histograms (issue 13), computed while their dumps streamed. */
  private readonly histograms: HistogramSummary[] = [];
  private readonly abort = new AbortController();
  private budget: CrashBudget | undefined;
  private readonly clock: () => number;

  constructor(private readonly deps: CrashDeps, readonly reason: string) {
    this.detectedAt = deps.now();
    this.clock = () => deps.now().getTime();
    const { app } = deps.config;
    this.prefix = crashPrefix({
      prefix: deps.config.store.prefix,
      org: app.org,
      space: app.space,
      app: app.name,
      instanceIndex: app.instanceIndex,
      reason,
      time: this.detectedAt,
    });
  }

  /** Starts streaming one artifact into the crash folder; settles on its own. */
  add(spec: ArtifactSpec, options: AddArtifactOptions = {}): void {
    const task = this.upload(spec, options).finally(() => this.pending.delete(task));
    this.pending.set(task, { name: spec.name, ...(options.localPath ? { localPath: options.localPath } : {}) });
  }

  private async upload(spec: ArtifactSpec, options: AddArtifactOptions): Promise<void> {
    const { log } = this.deps;
    const started = this.clock();
    let latest = { contentBytes: 0, storedBytes: 0 };
    let before = { at: started, bytes: 0 };
    const every = this.deps.progressEveryMs ?? this.deps.config.progressEveryMs;
    const ticker = setInterval(() => {
      void (async () => {
        const total = await options.totalBytes?.().catch(() => undefined);
        log.info(progressLine(spec.name, latest, before, this.clock(), total, this.budget?.uploads.left()));
        before = { at: this.clock(), bytes: latest.contentBytes };
      })();
    }, every);
    ticker.unref();
    let histogram: HeapHistogramTap | undefined;
    let uploadError: string | undefined;
    let storedName = spec.name;
    try {
      const up = await uploading();
      // issue 13: histogram in the same pass; in its own thread only when asked (memory, issue 10)
      histogram = up.HeapHistogramTap.for(spec.name, { workerFile: this.deps.config.histogramThread ? up.HeapHistogramTap.bundledWorker() : null });
      const store = await this.deps.store();
      if (options.big) {
        const { config } = this.deps;
        const allowance = await claimDumpSlot({
          store, appPrefix: appPrefixOf(this.prefix), instance: config.app.instanceIndex,
          max: config.maxDumps, windowMs: config.dumpWindowMs, now: this.clock(),
          limits: () => ({ signal: this.abort.signal, timeoutMs: this.budget?.uploads.left() }),
        });
        if (allowance.reason) log.warn(allowance.reason);
        if (!allowance.allowed) {
          (spec.source as { destroy?: () => void }).destroy?.();
          this.failed.push({ name: spec.name, error: `skipped: ${allowance.reason}`, ...(options.localPath ? { localPath: options.localPath } : {}) });
          log.warn(`not storing ${spec.name}: ${allowance.reason}${options.localPath ? `; it is at ${options.localPath} in this container` : ''}`);
          return;
        }
      }
      const { app } = this.deps.config;
      // Who and why travel with every object, so a bucket listing tool can show them.
      const metadata = { app: app.name, space: app.space, org: app.org, instance: app.instanceIndex, reason: this.reason, ...spec.metadata };
      const record = await up.storeArtifact(store, this.prefix, { ...spec, metadata, ...(histogram ? { observe: histogram.observe } : {}) }, {
        onProgress: (p) => { latest = p; },
        signal: this.abort.signal,
        now: this.clock,
      });
      this.stored.push(record);
      storedName = record.name;
      const ratio = record.storedSize > 0 ? ` (${(record.size / record.storedSize).toFixed(1)}x smaller)` : '';
      const what = `${formatBytes(record.size)} as ${formatBytes(record.storedSize)}${record.contentEncoding ? ratio : ''} in ${((this.clock() - started) / 1000).toFixed(1)} s -> ${record.location}${record.verified ? '' : ` (not verified: ${record.unverifiedReason})`}`;
      if (record.complete) log.info(`stored ${record.name}: ${what}`);
      else log.warn(`stored INCOMPLETE ${record.name} (${record.incompleteReason}): ${what}`);
      if (options.localPath) await rm(options.localPath, { force: true });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      uploadError = message;
      this.failed.push({ name: spec.name, error: message, ...(options.localPath ? { localPath: options.localPath } : {}) });
      log.error(`could not store ${spec.name}: ${message}; ${options.localPath ? whereItIs(options.localPath, options.punched?.()) : options.keepNote ?? 'it is lost'}`);
    } finally {
      clearInterval(ticker);
    }
    if (histogram && histogram.bytesRead > 0) await this.storeHistogram(histogram, storedName, uploadError);
  }

  /** issue 13: histogram.json beside the dump, its summary for the report. */
  private async storeHistogram(tap: HeapHistogramTap, artifact: string, uploadError: string | undefined): Promise<void> {
    const { log } = this.deps;
    try {
      const outcome = await (await uploading()).storeHistogram(await this.deps.store(), this.prefix, { tap, artifact, uploadError, signal: this.abort.signal });
      if (!outcome.summary) return log.warn(`no heap histogram for ${artifact}: ${outcome.skipped}`);
      this.histograms.push(outcome.summary);
      if (outcome.record) this.stored.push(outcome.record);
      if (outcome.error !== undefined) this.failed.push({ name: tap.fileName, error: outcome.error });
      const top = outcome.summary.top[0];
      log.info(`heap histogram of ${artifact}: ${outcome.summary.totals.objects} objects, ${formatBytes(outcome.summary.totals.bytes)}${top ? `; top: ${top.name} (${top.instances} instances, ${formatBytes(top.bytes)})` : ''}${tap.threaded ? ' (parsed in its own thread)' : ''}${outcome.summary.complete ? '' : `; INCOMPLETE: ${outcome.summary.reason}`}${outcome.error === undefined ? '' : `; could not store ${tap.fileName}: ${outcome.error}`}`);
    } catch (error) {
      log.error(`no heap histogram for ${tap.artifact}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /**
   * Writes the report "in progress", waits for the artifacts until the budget's `uploads`
   * deadline (then abandons them), stores the log tail and rewrites the report, all by the
   * budget's end. Returns the final report, or undefined when there is no store at all.
   */
  async finish(input: { death?: Death; diedAt?: Date; logTail?: Buffer }, budget: CrashBudget = uploadBudget(this.deps.config, this.clock)): Promise<Report | undefined> {
    const { log } = this.deps;
    this.budget = budget;
    const abandon = () => this.abort.abort(budget.uploads.signal.reason);
    if (budget.uploads.signal.aborted) abandon();
    else budget.uploads.signal.addEventListener('abort', abandon, { once: true });

    let store: Store;
    try {
      store = await this.deps.store();
      this.storeDescription = store.description;
    } catch (error) {
      const local = await this.writeLocal(this.report(input, 'final'));
      log.error(`no store for the report: ${error instanceof Error ? error.message : String(error)}${local ? `; the report is at ${local} in this container` : ''}`);
      return undefined;
    }
    const draft = this.report(input, 'in-progress');
    const local = await this.writeLocal(draft);
    if (local) log.info(`crash report (in progress) at ${local} in this container; the store gets it too`);
    const draftStored = this.storeReport(store, draft, budget.uploads);

    if (this.pending.size > 0) {
      await Promise.race([Promise.allSettled([...this.pending.keys()]), whenAborted(budget.uploads.signal)]);
      if (this.pending.size > 0) log.error(`abandoning ${[...this.pending.values()].map((p) => p.name).join(', ')}: ${reasonOf(budget.uploads.signal)}`);
    }
    // Abandoned uploads clean up (AbortMultipartUpload) while the log tail and report go in.
    const abandoned = [...this.pending.keys()];
    await draftStored; // never two writes of report.json at once: the last one must win
    if (input.logTail && input.logTail.length > 0) {
      try {
        this.stored.push(await (await uploading()).storeBytes(store, logTailKey(this.prefix), input.logTail, {
          contentType: 'text/plain; charset=utf-8', signal: budget.all.signal, timeoutMs: budget.all.left(), now: this.clock,
        }));
      } catch (error) {
        this.failed.push({ name: 'log-tail.txt', error: error instanceof Error ? error.message : String(error) });
      }
    }
    const report = this.report(input, 'final');
    await this.writeLocal(report);
    const stored = await this.storeReport(store, report, budget.all);
    if (stored) log.info(`crash report -> ${stored}`);
    // index.html, rendered from the final report, within the same deadline.
    await (await uploading()).storeCrashPage(store, this.prefix, report, input.logTail, log, { signal: budget.all.signal, timeoutMs: budget.all.left(), now: this.clock });
    await Promise.race([Promise.allSettled(abandoned), whenAborted(budget.all.signal)]);
    return report;
  }

  private report(input: { death?: Death; diedAt?: Date; logTail?: Buffer }, state: 'in-progress' | 'final'): Report {
    const pending = [...this.pending.values()];
    return buildReport({
      app: this.deps.config.app,
      buildpackVersion: this.deps.buildpackVersion,
      startedAt: this.deps.startedAt,
      detectedAt: this.detectedAt,
      reason: this.reason,
      state,
      artifacts: this.stored,
      // A final report names what never finished as failed, never as stored.
      failed: state === 'final' ? [...this.failed, ...pending.map((p) => ({ ...p, error: 'abandoned: still uploading at the deadline' }))] : this.failed,
      pending: state === 'final' ? [] : pending.map((p) => p.name),
      store: this.storeDescription ?? '',
      crashPrefix: this.prefix,
      ...(input.death ? { death: input.death } : {}),
      ...(input.diedAt ? { diedAt: input.diedAt } : {}),
      ...(this.deps.environment ? { environment: this.deps.environment } : {}),
      ...(this.deps.javaMajors ? { javaMajors: this.deps.javaMajors } : {}),
      ...(this.histograms.length > 0 && loaded ? { heapHistograms: loaded.nameThrowers(this.histograms, input.logTail?.toString('utf8')) } : {}), // issue 13
    });
  }

  private storeDescription: string | undefined;

  /** Where this crash's evidence goes: s3://bucket/<prefix>/ or the folder (from the store). */
  async location(): Promise<string> {
    const store = await this.deps.store();
    return store.locationOf(`${this.prefix}/`);
  }

  private async storeReport(store: Store, report: Report, deadline: Deadline): Promise<string | undefined> {
    try {
      const stored = await (await uploading()).storeJson(store, reportKey(this.prefix), report, { signal: deadline.signal, timeoutMs: deadline.left(), now: this.clock });
      return stored.location;
    } catch (error) {
      this.deps.log.error(`could not store report.json (${report.state}): ${error instanceof Error ? error.message : String(error)}; the local copy is at ${localReportPath(this.deps.config)}`);
      return undefined;
    }
  }

  /** The container's copy of the report (for hooks, cf ssh, and when the store is out of reach). */
  private async writeLocal(report: Report): Promise<string | undefined> {
    const file = localReportPath(this.deps.config);
    try {
      await mkdir(path.dirname(file), { recursive: true });
      // Written aside and renamed: a hook or a cf ssh reader never sees half a report.
      const partial = `${file}.${process.pid}.partial`;
      await writeFile(partial, `${JSON.stringify(report, null, 2)}\n`);
      await rename(partial, file);
      return file;
    } catch (error) {
      this.deps.log.warn(`could not write the local report ${file}: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  }

  /** Resolves when every artifact started so far has been stored or has failed. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending.keys()]);
  }

  get artifacts(): readonly ArtifactRecord[] { return this.stored; }
  get failures(): readonly FailedArtifact[] { return this.failed; }
}

/**
 * Where a local file's evidence is after its upload failed. Bytes punched out behind the
 * upload lived only in it: an upload never completed is no object (and is aborted), so they
 * are gone, and the log says exactly which.
 */
export function whereItIs(file: string, disk: DiskUse | undefined): string {
  const punched = disk?.punched ?? 0;
  const underWay = disk?.punchingTo !== undefined && disk.punchingTo > punched ? disk.punchingTo : undefined;
  if (punched === 0 && underWay === undefined) return `it is still at ${file} in this container until it is deleted`;
  const gone = punched > 0 ? `its first ${formatBytes(punched)} (bytes 0-${punched - 1}) were punched out behind the upload and are LOST with it` : '';
  const maybe = underWay !== undefined ? `bytes ${punched}-${underWay - 1} may be lost${punched > 0 ? ' too' : ''} (a punch was under way)` : '';
  const from = underWay ?? punched;
  return `${[gone, maybe].filter(Boolean).join('; ')} (POSTMORTEM_PUNCH_HOLES=false keeps them); the rest, from byte ${from} on, is still at ${file} in this container until it is deleted`;
}

/**
 * One progress line. The rate is over the last interval, so a stalled upload says so instead
 * of dividing by nothing ("about 8843264 s left"); no estimate when nothing moves.
 */
export function progressLine(
  name: string,
  latest: { contentBytes: number; storedBytes: number },
  before: { at: number; bytes: number },
  now: number,
  total: number | undefined,
  deadlineLeftMs: number | undefined,
): string {
  const seconds = Math.max((now - before.at) / 1000, 0.001);
  const moved = latest.contentBytes - before.bytes;
  const rate = moved / seconds;
  const deadline = deadlineLeftMs === undefined ? '' : `; abandoned in ${Math.ceil(deadlineLeftMs / 1000)} s unless done`;
  const sofar = `${formatBytes(latest.contentBytes)} read${total ? ` of ${formatBytes(total)} (${Math.floor((100 * latest.contentBytes) / total)}%)` : ''}, ${formatBytes(latest.storedBytes)} stored`;
  if (moved <= 0) return `uploading ${name}: nothing moved in the last ${Math.round(seconds)} s; ${sofar}${deadline}`;
  const eta = total ? `, about ${Math.ceil(Math.max(0, total - latest.contentBytes) / rate)} s left` : '';
  return `uploading ${name}: ${sofar}, ${formatBytes(rate)}/s${eta}${deadline}`;
}

/**
 * The crash evidence currently belongs to: created by the first evidence (or the death), and
 * let go when a JVM survives its OutOfMemoryError (that crash is then complete without a death).
 */
export class CrashSlot {
  current: Crash | undefined;
  constructor(private readonly deps: CrashDeps) {}

  for(reason: string): Crash {
    return (this.current ??= new Crash(this.deps, reason));
  }

  /** A crash folder of its own, beside the slot (captures from the live app). */
  separate(reason: string): Crash {
    return new Crash(this.deps, reason);
  }

  /** After a heap dump: once its uploads settle and the app still runs, finish that crash. */
  finishIfSurvived(alive: () => boolean, logTail: () => Buffer): void {
    const current = this.current;
    void current?.settled().then(async () => {
      if (alive() && this.current === current) {
        this.current = undefined;
        this.deps.log.info('the app is still running after its heap dump; writing the report now');
        await current.finish({ logTail: logTail() });
      }
    });
  }
}
