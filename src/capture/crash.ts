// One crash's evidence on its way to the store: a fixed folder (crash prefix), artifacts
// streamed in as they appear, and the report written last. A failed artifact is logged
// with where it still is; it never makes the report claim something that is not stored.
import { rm } from 'node:fs/promises';
import type { Config } from '../config/types.ts';
import { formatBytes } from '../config/units.ts';
import type { Store } from '../store/store.ts';
import { crashPrefix } from '../store/keys.ts';
import type { ArtifactRecord, ArtifactSpec } from '../store/pipeline.ts';
import { storeArtifact, storeJson, storeBytes } from '../store/pipeline.ts';
import type { EventLog } from '../util/event-log.ts';
import type { Death } from '../watchdog/death.ts';
import type { FailedArtifact, Report } from './report.ts';
import { buildReport } from './report.ts';
import { claimDumpSlot } from './crash-loop.ts';
import { HeapHistogramTap, nameThrowers, storeHistogram, type HistogramSummary } from './heap-histogram.ts';
import { storeCrashPage } from './crash-page.ts';

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
}

export class Crash {
  readonly prefix: string;
  readonly detectedAt: Date;
  private readonly stored: ArtifactRecord[] = [];
  private readonly failed: FailedArtifact[] = [];
  /** Heap histograms (issue 13), computed while their dumps streamed. */
  private readonly histograms: HistogramSummary[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly abort = new AbortController();

  constructor(private readonly deps: CrashDeps, readonly reason: string) {
    this.detectedAt = deps.now();
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
    this.pending.add(task);
  }

  private async upload(spec: ArtifactSpec, options: AddArtifactOptions): Promise<void> {
    const { log } = this.deps;
    const started = Date.now();
    let latest = { contentBytes: 0, storedBytes: 0 };
    const every = this.deps.progressEveryMs ?? this.deps.config.progressEveryMs;
    const ticker = setInterval(() => {
      void (async () => {
        const seconds = (Date.now() - started) / 1000;
        const rate = latest.contentBytes / Math.max(seconds, 0.001);
        const total = await options.totalBytes?.().catch(() => undefined);
        const share = total ? ` of ${formatBytes(total)} (${Math.floor((100 * latest.contentBytes) / total)}%, about ${Math.ceil(Math.max(0, total - latest.contentBytes) / Math.max(rate, 1))} s left)` : '';
        log.info(`uploading ${spec.name}: ${formatBytes(latest.contentBytes)} read${share}, ${formatBytes(latest.storedBytes)} stored, ${formatBytes(rate)}/s`);
      })();
    }, every);
    ticker.unref();
    const histogram = HeapHistogramTap.for(spec.name); // issue 13: histogram in the same pass
    let uploadError: string | undefined;
    let storedName = spec.name;
    try {
      const store = await this.deps.store();
      if (options.big) {
        const { config } = this.deps;
        const allowance = await claimDumpSlot({
          store, appPrefix: this.prefix.split('/').slice(0, -2).join('/'), instance: config.app.instanceIndex,
          max: config.maxDumps, windowMs: config.dumpWindowMs, now: this.deps.now().getTime(),
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
      const record = await storeArtifact(store, this.prefix, { ...spec, metadata, ...(histogram ? { observe: histogram.observe } : {}) }, {
        onProgress: (p) => { latest = p; },
        signal: this.abort.signal,
      });
      this.stored.push(record);
      storedName = record.name;
      const ratio = record.storedSize > 0 ? ` (${(record.size / record.storedSize).toFixed(1)}x smaller)` : '';
      log.info(`stored ${record.name}: ${formatBytes(record.size)} as ${formatBytes(record.storedSize)}${record.contentEncoding ? ratio : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${record.location}${record.verified ? '' : ` (not verified: ${record.unverifiedReason})`}`);
      if (options.localPath) await rm(options.localPath, { force: true });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      uploadError = message;
      this.failed.push({ name: spec.name, error: message, ...(options.localPath ? { localPath: options.localPath } : {}) });
      log.error(`could not store ${spec.name}: ${message}; ${options.localPath ? `it is still at ${options.localPath} in this container until it is deleted` : options.keepNote ?? 'it is lost'}`);
    } finally {
      clearInterval(ticker);
    }
    if (histogram && histogram.bytesRead > 0) await this.storeHistogram(histogram, storedName, uploadError);
  }

  /** issue 13: histogram.json beside the dump, its summary for the report. */
  private async storeHistogram(tap: HeapHistogramTap, artifact: string, uploadError: string | undefined): Promise<void> {
    const { log } = this.deps;
    try {
      const outcome = await storeHistogram(await this.deps.store(), this.prefix, { tap, artifact, uploadError, signal: this.abort.signal });
      if (!outcome.summary) return log.warn(`no heap histogram for ${artifact}: ${outcome.skipped}`);
      this.histograms.push(outcome.summary);
      if (outcome.record) this.stored.push(outcome.record);
      if (outcome.error !== undefined) this.failed.push({ name: tap.fileName, error: outcome.error });
      const top = outcome.summary.top[0];
      log.info(`heap histogram of ${artifact}: ${outcome.summary.totals.objects} objects, ${formatBytes(outcome.summary.totals.bytes)}${top ? `; top: ${top.name} (${top.instances} instances, ${formatBytes(top.bytes)})` : ''}${tap.threaded ? '' : ' (parsed inline)'}${outcome.summary.complete ? '' : `; INCOMPLETE: ${outcome.summary.reason}`}${outcome.error === undefined ? '' : `; could not store ${tap.fileName}: ${outcome.error}`}`);
    } catch (error) {
      log.error(`no heap histogram for ${tap.artifact}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Waits for the artifacts (bounded by the upload deadline), then stores log tail and report. */
  async finish(input: { death?: Death; diedAt?: Date; logTail?: Buffer }): Promise<Report | undefined> {
    const { log, config } = this.deps;
    const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), config.uploadTimeoutMs).unref());
    if (this.pending.size > 0) {
      const outcome = await Promise.race([Promise.allSettled([...this.pending]).then(() => 'done' as const), deadline]);
      if (outcome === 'timeout') {
        log.error(`uploads still running after POSTMORTEM_UPLOAD_TIMEOUT (${Math.round(config.uploadTimeoutMs / 1000)} s); aborting them`);
        this.abort.abort(new Error('upload deadline reached'));
        await Promise.allSettled([...this.pending]);
      }
    }
    let store: Store;
    try {
      store = await this.deps.store();
    } catch (error) {
      log.error(`no store for the report: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
    if (input.logTail && input.logTail.length > 0) {
      try {
        this.stored.push(await storeBytes(store, `${this.prefix}/log-tail.txt`, input.logTail, { contentType: 'text/plain; charset=utf-8' }));
      } catch (error) {
        this.failed.push({ name: 'log-tail.txt', error: error instanceof Error ? error.message : String(error) });
      }
    }
    const report = buildReport({
      app: config.app,
      buildpackVersion: this.deps.buildpackVersion,
      startedAt: this.deps.startedAt,
      detectedAt: this.detectedAt,
      reason: this.reason,
      artifacts: this.stored,
      failed: this.failed,
      store: this.deps.config.store.kind === 's3' ? `s3://${this.deps.config.store.bucket}` : `file://${this.deps.config.store.root}`,
      crashPrefix: this.prefix,
      ...(input.death ? { death: input.death } : {}),
      ...(input.diedAt ? { diedAt: input.diedAt } : {}),
      ...(this.deps.environment ? { environment: this.deps.environment } : {}),
      ...(this.deps.javaMajors ? { javaMajors: this.deps.javaMajors } : {}),
      ...(this.histograms.length > 0 ? { heapHistograms: nameThrowers(this.histograms, input.logTail?.toString('utf8')) } : {}), // issue 13
    });
    try {
      const stored = await storeJson(store, `${this.prefix}/report.json`, report);
      log.info(`crash report -> ${stored.location}`);
    } catch (error) {
      log.error(`could not store report.json: ${error instanceof Error ? error.message : String(error)}`);
    }
    await storeCrashPage(store, this.prefix, report, input.logTail, log); // issue 13: index.html, from the final report
    return report;
  }

  /** Resolves when every artifact started so far has been stored or has failed. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  get artifacts(): readonly ArtifactRecord[] { return this.stored; }
  get failures(): readonly FailedArtifact[] { return this.failed; }
}
