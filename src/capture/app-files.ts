// Optional: files of the app (logs it writes, generated config) packed as one tar.gz and
// stored with the crash. Off unless POSTMORTEM_APP_FILES names them. Globs are expanded by
// bash (globstar), packing is done by tar, streamed: nothing is staged on disk.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ArtifactSpec } from '../store/pipeline.ts';

export interface AppFilesSelection {
  files: string[];
  bytes: number;
  /** Files left out because the size cap was reached. */
  leftOut: string[];
}

/** Expands comma-separated globs relative to appDir; files only, in order, up to maxBytes in total. */
export async function selectAppFiles(appDir: string, patterns: string[], maxBytes: number): Promise<AppFilesSelection> {
  // Loaded after a death only: execa is most of the watchdog's code (idle memory, issue 10).
  const { execa } = await import('execa');
  const script = 'cd "$1" || exit 0; shift; for p in "$@"; do for f in $p; do [ -f "$f" ] && printf "%s\\0" "$f"; done; done';
  const listed = await execa('bash', ['-O', 'globstar', '-O', 'nullglob', '-c', script, 'postmortem-app-files', appDir, ...patterns], { reject: false, stdin: 'ignore' });
  const unique = [...new Set(listed.stdout.split('\0').filter(Boolean))];
  const selection: AppFilesSelection = { files: [], bytes: 0, leftOut: [] };
  for (const file of unique) {
    const size = (await stat(path.join(appDir, file)).catch(() => undefined))?.size ?? 0;
    if (selection.bytes + size > maxBytes) selection.leftOut.push(file);
    else { selection.files.push(file); selection.bytes += size; }
  }
  return selection;
}

/**
 * The selection as a streamed tar.gz artifact (tar compresses; we store it as is). tar starts
 * when the upload starts reading (output nobody reads yet can be lost), and a tar that fails
 * fails the artifact: an empty or partial archive is never called stored.
 */
export function appFilesArtifact(appDir: string, files: string[]): ArtifactSpec {
  async function* packed(): AsyncGenerator<Buffer> {
    // Loaded only when app files are stored: execa is a large share of the watchdog's idle memory.
    const { execa } = await import('execa');
    const tar = execa('tar', ['-czf', '-', '-C', appDir, '--null', '--files-from=-'], { input: files.map((f) => `${f}\0`).join(''), buffer: { stdout: false }, stripFinalNewline: false, encoding: 'buffer', reject: false });
    for await (const chunk of tar.stdout!) yield chunk as Buffer;
    const result = await tar;
    if (result.exitCode !== 0) throw new Error(`tar exited with ${result.exitCode ?? result.signal}: ${String(result.stderr).trim().slice(0, 300)}`);
  }
  return { name: 'app-files.tar.gz', source: packed(), contentType: 'application/gzip', encoding: 'raw' };
}
