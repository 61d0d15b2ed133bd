// Evidence files that appear while the app runs: heap dumps and hs_err logs in the JVM
// folder we own, cores where core_pattern puts them. Each is streamed to the crash while
// it is still being written and completed when its writer is done (the JVM says so, or
// the app exits, or the file stops growing). inotify only: nothing runs while idle.
import { open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import chokidar, { type FSWatcher } from 'chokidar';
import type { EventLog } from '../util/event-log.ts';
import type { AddArtifactOptions, Crash } from './crash.ts';
import { followGrowingFile, type FollowedFile } from './growing-file.ts';
import type { ArtifactSpec } from '../store/pipeline.ts';

export type EvidenceKind = 'heap' | 'fatal-error-log' | 'core';

export interface EvidenceFolder {
  folder: string;
  classify(name: string): EvidenceKind | undefined;
  /**
   * Other watchdogs may watch it too (sidecars go through the launcher like the app, and a
   * core lands in the shared working directory): a file is taken by whoever claims it first.
   */
  shared?: boolean;
  /** For shared folders: is this file ours? undefined = cannot tell (then the first claim wins). */
  owns?: (file: string) => Promise<boolean | undefined>;
}

/** Exclusive claim on a file in a shared folder: a marker created with O_EXCL beside it. */
async function claim(file: string): Promise<boolean> {
  try {
    await (await open(`${file}.postmortem-claim`, 'wx')).close();
    return true;
  } catch (error) {
    return (error as { code?: string }).code !== 'EEXIST';
  }
}

export const JVM_FILES = (name: string): EvidenceKind | undefined =>
  /\.hprof(\.gz)?$/.test(name) ? 'heap' : /^hs_err.*\.log$/.test(name) ? 'fatal-error-log' : undefined;

/** The reason a crash folder is named after, when this kind of file is its first evidence. */
export const REASON_OF: Record<EvidenceKind, string> = { heap: 'oom', 'fatal-error-log': 'fatal-error', core: 'signal' };

const QUIET_MS: Record<EvidenceKind, number> = { heap: 60_000, 'fatal-error-log': 10_000, core: 30_000 };

export interface EvidenceDeps {
  folders: EvidenceFolder[];
  log: EventLog;
  gzipLevel: number;
  /** The crash this evidence belongs to (created on first evidence). */
  crashFor: (kind: EvidenceKind) => Crash;
  onEvidence?: (kind: EvidenceKind, file: string) => void;
  now?: () => number;
}

interface Followed {
  kind: EvidenceKind;
  file: string;
  followed: FollowedFile;
  written: boolean;
}

export class EvidenceWatch {
  private watcher: FSWatcher | undefined;
  private readonly seen = new Set<string>();
  /** Files there before the app started: ignored unless rewritten (a new core over an old one). */
  private readonly preexisting = new Set<string>();
  private readonly active = new Set<Followed>();
  private readonly counts = new Map<EvidenceKind, number>();
  private readonly startedAt: number;
  private readonly claims = new Set<Promise<void>>();

  constructor(private readonly deps: EvidenceDeps) {
    this.startedAt = (deps.now ?? Date.now)();
  }

  async start(): Promise<void> {
    if (this.deps.folders.length === 0) return;
    // Files already there (an old "core" in the app folder) are not this run's evidence.
    for (const { folder, classify } of this.deps.folders) {
      for (const name of await readdir(folder).catch(() => [] as string[])) if (classify(name)) this.preexisting.add(path.join(folder, name));
    }
    this.watcher = chokidar.watch(this.deps.folders.map((f) => f.folder), { ignoreInitial: true, depth: 0, usePolling: false, ignorePermissionErrors: true });
    this.watcher.on('add', (file) => this.found(file));
    this.watcher.on('change', (file) => { if (this.preexisting.delete(file)) this.found(file); });
    this.watcher.on('error', () => { /* a vanished folder must not take the watchdog down */ });
    await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
  }

  /** The JVM printed "Heap dump file created": its dumps are complete. */
  heapDumpsWritten(): void {
    for (const f of this.active) if (f.kind === 'heap') this.complete(f);
  }

  /** The app is gone: its writers are done. Files the watcher did not report are collected too. */
  async appExited(): Promise<void> {
    for (const { folder } of this.deps.folders) {
      for (const name of await readdir(folder).catch(() => [] as string[])) {
        const file = path.join(folder, name);
        const info = await stat(file).catch(() => undefined);
        if (info?.isFile() && info.mtimeMs >= this.startedAt) {
          this.preexisting.delete(file);
          this.found(file);
        }
      }
    }
    await Promise.all([...this.claims]);
    for (const f of this.active) this.complete(f);
  }

  async close(): Promise<void> {
    await this.watcher?.close();
  }

  private found(file: string): void {
    if (this.seen.has(file) || this.preexisting.has(file)) return;
    const spec = this.deps.folders.find((f) => path.dirname(file) === path.resolve(f.folder));
    const kind = spec?.classify(path.basename(file));
    if (!kind) return;
    this.seen.add(file);
    if (spec?.shared) {
      const owns = spec.owns ?? (async () => undefined);
      const pending = owns(file)
        .catch(() => undefined)
        .then(async (ours) => ours !== false && (await claim(file)))
        .then((mine) => { if (mine) this.take(kind, file, true); });
      this.claims.add(pending);
      void pending.finally(() => this.claims.delete(pending));
      return;
    }
    this.take(kind, file, false);
  }

  private take(kind: EvidenceKind, file: string, claimed: boolean): void {
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    this.deps.onEvidence?.(kind, file);
    const followed = followGrowingFile(file, {
      quietMs: QUIET_MS[kind],
      onQuiet: () => this.deps.log.warn(`${file} stopped growing before its writer said it is done; storing what is there`),
    });
    const entry: Followed = { kind, file, followed, written: false };
    this.active.add(entry);
    this.deps.log.info(`${describe(kind)} appeared: ${file}; streaming it to the store while it is written`);
    if (claimed) void followed.stream.once('close', () => void rm(`${file}.postmortem-claim`, { force: true }));
    const options: AddArtifactOptions = {
      localPath: file,
      big: kind !== 'fatal-error-log',
      totalBytes: async () => (entry.written ? (await stat(file)).size : undefined),
    };
    this.deps.crashFor(kind).add(this.artifact(kind, file, n, followed), options);
  }

  private artifact(kind: EvidenceKind, file: string, n: number, followed: FollowedFile): ArtifactSpec {
    const suffix = n > 1 ? `-${n}` : '';
    const gz = file.endsWith('.gz');
    const name = kind === 'heap' ? `heap${suffix}.hprof${gz ? '.gz' : ''}` : kind === 'core' ? `core${suffix}` : `hs_err${suffix}.log`;
    const compress = this.deps.gzipLevel > 0 ? 'compress' : 'raw';
    return {
      name,
      source: followed.stream,
      contentType: kind === 'fatal-error-log' ? 'text/plain; charset=utf-8' : 'application/octet-stream',
      encoding: gz ? 'already-gzip' : compress,
      gzipLevel: this.deps.gzipLevel,
    };
  }

  private complete(entry: Followed): void {
    entry.written = true;
    entry.followed.complete();
    this.active.delete(entry);
  }
}

function describe(kind: EvidenceKind): string {
  return kind === 'heap' ? 'heap dump' : kind === 'core' ? 'core file' : 'JVM fatal error log';
}
