// Evidence files that appear while the app runs: heap dumps and hs_err logs in the JVM
// folder we own, cores where core_pattern puts them. Each is streamed to the crash while
// it is still being written and completed when its writer is done (the JVM says so, or
// the app exits, or the file stops growing). inotify only: nothing runs while idle.
// A heap dump or core found while the container has no room for the watchdog to grow
// (stream-room.ts) waits until its writer is done or gone, then streams the finished file.
import { existsSync } from 'node:fs';
import { open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import chokidar, { type FSWatcher } from 'chokidar';
import type { EventLog } from '../util/event-log.ts';
import type { AddArtifactOptions, Crash } from './crash.ts';
import { followGrowingFile, type FollowedFile } from './growing-file.ts';
import { HolePuncher } from './hole-punch.ts';
import { formatBytes } from '../config/units.ts';
import { coreCompleteness } from './core-file.ts';
import type { ArtifactSpec, Completeness } from '../store/pipeline.ts';
import type { Compression } from '../store/codecs.ts';
import type { OutputEvent } from '../watchdog/output-scanner.ts';
import { snapshotFolders, type EvidenceFolder, type EvidenceKind, type FolderSnapshot } from './evidence-folders.ts';
import type { RoomVerdict } from './stream-room.ts';
import { WriterPacing, findDumpWriter, type PacingSummary } from './writer-pacing.ts';

export { JVM_FILES, type EvidenceFolder, type EvidenceKind } from './evidence-folders.ts';

/** Exclusive claim on a file in a shared folder: a marker created with O_EXCL beside it. */
async function claim(file: string): Promise<boolean> {
  try {
    await (await open(`${file}.postmortem-claim`, 'wx')).close();
    return true;
  } catch (error) {
    return (error as { code?: string }).code !== 'EEXIST';
  }
}

/** The reason a crash folder is named after, when this kind of file is its first evidence. */
export const REASON_OF: Record<EvidenceKind, string> = { heap: 'oom', 'fatal-error-log': 'fatal-error', core: 'signal' };

const QUIET_MS: Record<EvidenceKind, number> = { heap: 60_000, 'fatal-error-log': 10_000, core: 30_000 };

export interface EvidenceDeps {
  folders: EvidenceFolder[];
  log: EventLog;
  gzipLevel: number;
  /** How what we compress is compressed: the setting as this runtime can honour it (codecs.ts usableCompression). */
  compression?: Compression;
  /** The crash this evidence belongs to (created on first evidence). */
  crashFor: (kind: EvidenceKind) => Crash;
  onEvidence?: (kind: EvidenceKind, file: string) => void;
  /** What the folders held before the app was spawned; default: read when the watch starts. */
  before?: FolderSnapshot;
  now?: () => number;
  /** How long a file may stop growing before it is taken as its writer gone (tests shorten it). */
  quietMs?: Partial<Record<EvidenceKind, number>>;
  /**
   * Whether the container has room to stream a heap dump or core while its writer still holds
   * its memory (stream-room.ts). Without room the file waits until the writer is done or gone.
   * Default: always room.
   */
  roomToStream?: () => RoomVerdict;
  /** How often a waiting file asks for room again (default 2 s; tests shorten it). */
  roomRecheckMs?: number;
  /** A heap dump the JVM already called done was taken late (it waited for room) while the app runs. */
  onLateHeapDump?: () => void;
  /**
   * POSTMORTEM_DUMP_DISK_LIMIT: a plain dump being punched out behind the upload may take this
   * much disk before its writer waits for the upload (writer-pacing.ts); 0 or undefined: never.
   */
  dumpDiskLimit?: number;
}

interface Waiting {
  kind: EvidenceKind;
  claimed: boolean;
  gzipped: boolean;
  punch: boolean;
}

interface Followed {
  kind: EvidenceKind;
  file: string;
  followed: FollowedFile;
  written: boolean;
  /** Lets the dump's writer go on for good, if it was being paced (writer-pacing.ts). */
  endPacing?: () => void;
  /** Whether the file is whole, once its writer is known to be done (or gone). */
  verdict?: Completeness;
}

/** The JVM's own words on the dump it wrote last. */
const JVM_CREATED: Completeness = { complete: true };
const EXITED_BEFORE_CREATED: Completeness = {
  complete: false,
  reason: 'the JVM exited before it said the heap dump was created (no "Heap dump file created" line): the dump may be cut short',
};

export class EvidenceWatch {
  private watcher: FSWatcher | undefined;
  private readonly seen = new Set<string>();
  /** Files there before the app started: ignored unless rewritten (a new core over an old one). */
  private readonly preexisting = new Set<string>();
  private readonly active = new Set<Followed>();
  private readonly counts = new Map<EvidenceKind, number>();
  private readonly startedAt: number;
  private readonly claims = new Set<Promise<void>>();
  /** Dump paths the JVM announced ("Dumping heap to P ..."), with its verdict once it gave one. */
  private readonly announced = new Map<string, Completeness | undefined>();
  /** One per watchdog: when fallocate cannot punch, that is said once. */
  private readonly puncher: HolePuncher;
  /** Big files found while the container had no room to stream them, by path. */
  private readonly waiting = new Map<string, Waiting>();
  private recheck: NodeJS.Timeout | undefined;
  private exited = false;

  constructor(private readonly deps: EvidenceDeps) {
    this.startedAt = deps.before?.at ?? (deps.now ?? Date.now)();
    this.puncher = new HolePuncher({
      onUnavailable: (reason) => deps.log.warn(`heap dumps are not punched out behind the upload (${reason}); the whole dump stays on disk until it is stored`),
    });
  }

  async start(): Promise<void> {
    if (this.deps.folders.length === 0) return;
    // Files already there (an old "core" in the app folder) are not this run's evidence.
    const before = this.deps.before ?? snapshotFolders(this.deps.folders);
    for (const file of before.files) this.preexisting.add(file);
    this.watcher = chokidar.watch(this.deps.folders.map((f) => f.folder), { ignoreInitial: true, depth: 0, usePolling: false, ignorePermissionErrors: true });
    this.watcher.on('add', (file) => this.found(file));
    this.watcher.on('change', (file) => { if (this.preexisting.delete(file)) this.found(file); });
    this.watcher.on('error', () => { /* a vanished folder must not take the watchdog down */ });
    await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
    // The app may have run since the snapshot (the watch starts after the spawn): what it
    // wrote before the watcher was ready is in no event, so it is looked for once now.
    if (this.deps.before) await this.sweep();
  }

  /**
   * What the JVM printed about its dumps. "Heap dump file created" makes the dump it
   * announced complete; "Dump file is incomplete: …" ends it as incomplete, with the JVM's
   * reason. Either way the JVM is done writing it.
   */
  jvmSaid(event: OutputEvent): void {
    if (event.kind === 'heap-dump-started') {
      this.announced.set(event.path, undefined);
      // The JVM says so as it opens the file, often before the folder watch reports it; a JVM
      // writing into the page cache puts down ~1 GB/s, and pacing starts only once we follow.
      const file = path.resolve(event.path);
      if (existsSync(file)) this.found(file);
      return;
    }
    if (event.kind !== 'heap-dump-written' && event.kind !== 'heap-dump-failed') return;
    const verdict: Completeness = event.kind === 'heap-dump-written'
      ? JVM_CREATED
      : { complete: false, reason: `the JVM said "Dump file is incomplete: ${event.reason}"` };
    const pending = [...this.announced].filter(([, v]) => v === undefined).map(([p]) => p);
    for (const p of pending) this.announced.set(p, verdict);
    for (const f of this.active) {
      if (f.kind !== 'heap' || f.verdict) continue;
      // Without an announcement (its line was lost) the verdict goes to every dump in progress.
      if (pending.length === 0 || pending.some((p) => sameFile(f.file, p))) {
        f.verdict = verdict;
        this.complete(f);
      }
    }
    for (const [file, w] of this.waiting) {
      if (w.kind === 'heap' && pending.length === 0) this.announced.set(file, verdict);
    }
    this.takeWaiting(false);
  }

  /** The app is gone: its writers are done. Files the watcher did not report are collected too. */
  async appExited(): Promise<void> {
    this.exited = true;
    await this.sweep();
    await Promise.all([...this.claims]);
    // The writers' memory is given back with them: what waited for room streams now.
    this.takeWaiting(true);
    // A heap dump the JVM never called created is not known to be whole; cores and fatal
    // error logs are finished by the time their writer is gone.
    for (const f of this.active) {
      f.verdict ??= f.kind === 'heap' ? EXITED_BEFORE_CREATED : { complete: true };
      this.complete(f);
    }
  }

  async close(): Promise<void> {
    clearTimeout(this.recheck);
    for (const f of this.active) f.endPacing?.();
    await this.watcher?.close();
  }

  /** Evidence files new since the snapshot, or rewritten since, that no event has reported. */
  private async sweep(): Promise<void> {
    for (const { folder, classify } of this.deps.folders) {
      for (const name of await readdir(folder).catch(() => [] as string[])) {
        if (!classify(name)) continue;
        const file = path.join(folder, name);
        const info = await stat(file).catch(() => undefined);
        if (info?.isFile() && (!this.preexisting.has(file) || info.mtimeMs >= this.startedAt)) {
          this.preexisting.delete(file);
          this.found(file);
        }
      }
    }
  }

  private found(file: string): void {
    if (this.seen.has(file) || this.preexisting.has(file)) return;
    // Several specs may watch one folder (the app's own dump file beside its cores).
    const dir = path.dirname(file);
    const name = path.basename(file);
    const spec = this.deps.folders.find((f) => dir === path.resolve(f.folder) && f.classify(name) !== undefined);
    const kind = spec?.classify(name);
    if (!spec || !kind) return;
    this.seen.add(file);
    const gzipped = spec.gzipped === true;
    const punch = kind === 'heap' && spec.punchHoles === true && !gzipped && !file.endsWith('.gz');
    if (spec.shared) {
      const owns = spec.owns ?? (async () => undefined);
      const pending = owns(file)
        .catch(() => undefined)
        .then(async (ours) => ours !== false && (await claim(file)))
        .then((mine) => { if (mine) this.take(kind, file, true, gzipped, punch); });
      this.claims.add(pending);
      void pending.finally(() => this.claims.delete(pending));
      return;
    }
    this.take(kind, file, false, gzipped, punch);
  }

  private take(kind: EvidenceKind, file: string, claimed: boolean, gzipped: boolean, punch: boolean): void {
    this.deps.onEvidence?.(kind, file);
    if (kind !== 'fatal-error-log' && !this.exited) {
      const room = this.deps.roomToStream?.() ?? { fits: true };
      if (!room.fits) {
        this.waiting.set(file, { kind, claimed, gzipped, punch });
        this.deps.log.warn(`${describe(kind)} appeared: ${file}; the container has ${formatBytes(room.room)} of its ${formatBytes(room.limit)} memory limit free, less than the ${formatBytes(room.need)} streaming takes while the writer holds its memory: it is stored once the writer is done or gone (POSTMORTEM_MEMORY_RESERVE keeps room for this)`);
        this.scheduleRecheck();
        return;
      }
    }
    this.stream(kind, file, claimed, gzipped, punch, false);
  }

  /** Streams what waited for room, when there is room now or `regardless` (the app is gone). */
  private takeWaiting(regardless: boolean): void {
    if (this.waiting.size === 0) return;
    if (!regardless && !(this.deps.roomToStream?.().fits ?? true)) return;
    for (const [file, w] of this.waiting) {
      this.waiting.delete(file);
      if (!regardless) this.deps.log.info(`the container has room again: streaming ${file}`);
      this.stream(w.kind, file, w.claimed, w.gzipped, w.punch, true);
    }
  }

  /** While files wait (not while idle), room is asked for again every few seconds. */
  private scheduleRecheck(): void {
    if (this.recheck || this.waiting.size === 0) return;
    this.recheck = setTimeout(() => {
      this.recheck = undefined;
      if (!this.exited) this.takeWaiting(false);
      this.scheduleRecheck();
    }, this.deps.roomRecheckMs ?? 2000);
    this.recheck.unref();
  }

  private stream(kind: EvidenceKind, file: string, claimed: boolean, gzipped: boolean, punch: boolean, late: boolean): void {
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    // Going quiet ends the read, so it decides even if the writer speaks up afterwards.
    let wentQuiet = false;
    const quietMs = this.deps.quietMs?.[kind] ?? QUIET_MS[kind];
    const paced = kind === 'heap' && punch && !late && (this.deps.dumpDiskLimit ?? 0) > 0;
    let pacing: WriterPacing | undefined;
    const followed = followGrowingFile(file, {
      quietMs,
      onQuiet: () => {
        wentQuiet = true;
        this.deps.log.warn(`${file} stopped growing before its writer said it is done; storing what is there as incomplete`);
      },
      ...(punch ? { punch: this.puncher } : {}),
    });
    const entry: Followed = { kind, file, followed, written: false, endPacing: () => pacing?.end() };
    this.active.add(entry);
    if (paced) {
      const pid = findDumpWriter(file);
      if (pid !== undefined) {
        pacing = new WriterPacing({ pid, file, limitBytes: this.deps.dumpDiskLimit!, progress: () => followed.handedOn(), holdUntilFollowing: true, uploadReading: () => followed.started(), log: this.deps.log }).watch();
        followed.stream.once('close', () => pacing?.end());
      }
    }
    this.deps.log.info(late ? `streaming ${describe(kind)} ${file} to the store` : `${describe(kind)} appeared: ${file}; streaming it to the store while it is written`);
    if (claimed) void followed.stream.once('close', () => void rm(`${file}.postmortem-claim`, { force: true }));
    if (kind === 'heap') followed.stream.once('end', () => this.deps.log.info(diskLine(file, followed, pacing?.summary)));
    const options: AddArtifactOptions = {
      localPath: file,
      ...(punch ? { punched: () => followed.disk() } : {}),
      big: kind !== 'fatal-error-log',
      totalBytes: async () => (entry.written ? (await stat(file)).size : undefined),
    };
    this.deps.crashFor(kind).add({ ...this.artifact(kind, file, n, followed, gzipped), completeness: async () => {
      if (wentQuiet) return quietVerdict(quietMs);
      // A core has no writer to ask: its own headers say how long it should be.
      return (kind === 'core' ? await coreCompleteness(file).catch(() => undefined) : undefined) ?? entry.verdict;
    } }, options);
    // The JVM may have finished (or given up on) this dump before the watcher reported it.
    const said = kind === 'heap' ? [...this.announced].find(([p, v]) => v && sameFile(file, p))?.[1] : undefined;
    if (said) {
      entry.verdict = said;
      this.complete(entry);
      // The JVM finished it and lives on: its crash is due now that the dump is in it.
      if (late && !this.exited) this.deps.onLateHeapDump?.();
    }
  }

  private artifact(kind: EvidenceKind, file: string, n: number, followed: FollowedFile, gzipped: boolean): ArtifactSpec {
    const suffix = n > 1 ? `-${n}` : '';
    const gz = file.endsWith('.gz') || (kind === 'heap' && gzipped);
    const name = kind === 'heap' ? `heap${suffix}.hprof${gz ? '.gz' : ''}` : kind === 'core' ? `core${suffix}` : `hs_err${suffix}.log`;
    const compress = this.deps.gzipLevel > 0 ? 'compress' : 'raw';
    return {
      name,
      source: followed.stream,
      release: followed.release,
      contentType: kind === 'fatal-error-log' ? 'text/plain; charset=utf-8' : 'application/octet-stream',
      encoding: gz ? 'already-gzip' : compress,
      gzipLevel: this.deps.gzipLevel,
      ...(this.deps.compression ? { compression: this.deps.compression } : {}),
    };
  }

  private complete(entry: Followed): void {
    entry.written = true;
    entry.endPacing?.(); // its writer is done (or gone): nothing to wait for any more
    entry.followed.complete();
    this.active.delete(entry);
  }
}

/** What a heap dump took on disk, for the peak-disk figure of a crash. */
function diskLine(file: string, followed: FollowedFile, pacing: PacingSummary | undefined): string {
  const { peakAllocated, punched } = followed.disk();
  const paused = pacing && pacing.pauses > 0 ? `; its writer waited for the upload ${pacing.pauses} time${pacing.pauses === 1 ? '' : 's'}, ${(pacing.pausedMs / 1000).toFixed(1)} s in all` : '';
  return `${file}: took up to ${formatBytes(peakAllocated)} of disk (allocated blocks)${punched > 0 ? `; ${formatBytes(punched)} punched out behind the upload` : ''}${paused}`;
}

function quietVerdict(quietMs: number): Completeness {
  return { complete: false, reason: `it stopped growing for ${quietMs / 1000} s before its writer said it was done: it may be cut short` };
}

/** The JVM prints the dump path as given (maybe relative to the app's folder); we see it absolute. */
function sameFile(seen: string, announced: string): boolean {
  const normal = path.normalize(announced);
  return seen === normal || (!path.isAbsolute(normal) && seen.endsWith(`${path.sep}${normal}`));
}

function describe(kind: EvidenceKind): string {
  return kind === 'heap' ? 'heap dump' : kind === 'core' ? 'core file' : 'JVM fatal error log';
}
