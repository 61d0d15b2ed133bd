// Optional: files of the app (logs it writes, generated config) packed as one tar.gz and
// stored with the crash. Off unless POSTMORTEM_APP_FILES names them. Globs are expanded by
// bash (globstar), packing is done by tar, streamed: nothing is staged on disk.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ResultPromise } from 'execa';
import type { ArtifactSpec } from '../store/pipeline.ts';
import { reasonOf, whenAborted } from '../util/deadline.ts';
import { stoppableReadable } from '../util/stoppable.ts';

export interface AppFilesSelection {
  files: string[];
  bytes: number;
  /** Files left out because the size cap was reached. */
  leftOut: string[];
  /** Set when the deadline ended the selection: why (what it had found is kept). */
  stopped?: string;
}

/**
 * Expands comma-separated globs relative to appDir; files only, in order, up to maxBytes in total.
 * Bounded by `signal` (the crash's deadline): a glob over a hung mount ends with it, and what was
 * not looked at yet is left out, with the reason.
 */
export async function selectAppFiles(appDir: string, patterns: string[], maxBytes: number, signal?: AbortSignal): Promise<AppFilesSelection> {
  const selection: AppFilesSelection = { files: [], bytes: 0, leftOut: [] };
  if (signal?.aborted) return { ...selection, stopped: reasonOf(signal) };
  // Loaded after a death only: execa is most of the watchdog's code (idle memory, issue 10).
  const { execa } = await import('execa');
  const script = 'cd "$1" || exit 0; shift; for p in "$@"; do for f in $p; do [ -f "$f" ] && printf "%s\\0" "$f"; done; done';
  // SIGKILL: the listing is ours and holds nothing; a stopped bash ignores SIGTERM. Not waited
  // for past the deadline: one stuck in the kernel on a dead mount dies only when that returns.
  const listing = execa('bash', ['-O', 'globstar', '-O', 'nullglob', '-c', script, 'postmortem-app-files', appDir, ...patterns], { reject: false, stdin: 'ignore', killSignal: 'SIGKILL', ...(signal ? { cancelSignal: signal } : {}) });
  const listed = await (signal ? Promise.race([listing, whenAborted(signal)]) : listing);
  if (!listed || signal?.aborted) return { ...selection, stopped: reasonOf(signal!) };
  const unique = [...new Set(listed.stdout.split('\0').filter(Boolean))];
  for (const file of unique) {
    if (signal?.aborted) return { ...selection, stopped: reasonOf(signal) };
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
  let tar: ResultPromise | undefined;
  let stopped = false;
  async function* packed(): AsyncGenerator<Buffer, void, undefined> {
    // Loaded only when app files are stored: execa is a large share of the watchdog's idle memory.
    const { execa } = await import('execa');
    if (stopped) return;
    tar = execa('tar', ['-czf', '-', '-C', appDir, '--null', '--files-from=-'], { input: files.map((f) => `${f}\0`).join(''), buffer: { stdout: false }, stripFinalNewline: false, encoding: 'buffer', reject: false, killSignal: 'SIGKILL' });
    try {
      for await (const chunk of tar.stdout!) yield chunk as Buffer;
    } catch (error) {
      if (stopped) return; // our end of the pipe closed by the stop
      throw error;
    }
    if (stopped) return; // not waiting for a tar the kernel may not let die (a dead mount)
    const result = await tar;
    // encoding 'buffer' applies to stderr too: bytes, which String() would print as numbers.
    const said = Buffer.from(result.stderr as Uint8Array).toString('utf8').trim().slice(0, 300);
    if (result.exitCode !== 0) throw new Error(`tar exited with ${result.exitCode ?? result.signal}: ${said}`);
  }
  // Destroyed (a deadline, a stop) while tar is stuck on a file that never answers: our end of
  // its output is closed and tar is killed, so the generator returns instead of waiting for it.
  const source = stoppableReadable(packed(), () => { stopped = true; tar?.stdout?.destroy(); tar?.kill(); });
  return { name: 'app-files.tar.gz', source, contentType: 'application/gzip', encoding: 'raw' };
}
