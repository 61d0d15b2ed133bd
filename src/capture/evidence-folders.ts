// Where evidence files appear and what they are, and what those folders held before the app
// started. Light on purpose: it is loaded before the app is spawned (prepare.ts), while the
// watch itself (evidence.ts, chokidar) is loaded only once the app runs.
import { readdirSync } from 'node:fs';
import path from 'node:path';

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
  /** Its heap dumps are gzip whatever their name (a user's dump file with HeapDumpGzipLevel on). */
  gzipped?: boolean;
  /** Its plain heap dumps are ours to punch out behind the upload (hole-punch.ts). */
  punchHoles?: boolean;
}

export const JVM_FILES = (name: string): EvidenceKind | undefined =>
  /\.hprof(\.gz)?$/.test(name) ? 'heap' : /^hs_err.*\.log$/.test(name) ? 'fatal-error-log' : undefined;

/** The evidence files the folders held before the app started, and when that was looked at. */
export interface FolderSnapshot {
  files: Set<string>;
  /** Date.now() before the folders were read: a file changed since is this run's. */
  at: number;
}

/** Taken before the app is spawned: whatever is not in it (or changed after it) is the app's. */
/** Synchronous: it runs just before the spawn, where nothing else waits. */
export function snapshotFolders(folders: readonly EvidenceFolder[], now: () => number = Date.now): FolderSnapshot {
  const at = now();
  const files = new Set<string>();
  for (const { folder, classify } of folders) {
    let names: string[] = [];
    try {
      names = readdirSync(folder);
    } catch { /* not there (yet): nothing was there before */ }
    for (const name of names) if (classify(name)) files.add(path.join(folder, name));
  }
  return { files, at };
}
