// The true bytes of a plain heap dump the watchdog follows and punches out behind its
// reader, recovered independently of the watchdog:
// - the dump file is hard-linked the moment it appears (inotify on the JVM folder), so it
//   survives the watchdog removing it; with punching off, that file is the dump, whole.
// - a recording `fallocate`, first on PATH, copies each range it is asked to punch (dd from
//   the file, its own read) into a side file at the same offset and logs the range, then runs
//   the real fallocate. The dump's bytes = the side file's bytes in the punched ranges + the
//   linked file's bytes elsewhere. No race: a range is copied before it is punched, and only
//   ranges the JVM has already written (the reader read them) are ever punched.
import { createHash } from 'node:crypto';
import { chmod, link, readFile, writeFile } from 'node:fs/promises';
import { watch } from 'node:fs';
import path from 'node:path';
import type { Launched } from './cf.ts';
import { tempDir } from './temp.ts';

export const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Hard-links the first .hprof that appears in `jvmDir` to `keep`; resolves with the dump's own path. */
export function keepDump(jvmDir: string, keep: string, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => { watcher.close(); reject(new Error(`no .hprof in ${jvmDir} within ${timeoutMs / 1000} s`)); }, timeoutMs);
    const watcher = watch(jvmDir, (_event, name) => {
      if (!name?.endsWith('.hprof')) return;
      watcher.close();
      clearTimeout(deadline);
      link(path.join(jvmDir, name), keep).then(() => resolve(path.join(jvmDir, name)), reject);
    });
  });
}

/** The watchdog's JVM folder for a launched app (under the dump folder). */
export const jvmFolder = (dumpDir: string, app: Launched) => path.join(dumpDir, `jvm-${app.pid}`);

export interface RecordingFallocate {
  /** Folder to put first on PATH. */
  bin: string;
  /** The ranges punched so far, in the order asked: [offset, length]. */
  ranges(): Promise<[number, number][]>;
  /** The dump's true bytes: `kept` (the linked file) with the punched ranges put back. */
  restore(kept: string): Promise<{ dump: Buffer; punched: number; zerosWhereGone: boolean }>;
}

export async function recordingFallocate(): Promise<RecordingFallocate> {
  const bin = await tempDir('pm-fallocate-');
  const side = path.join(bin, 'punched-bytes');
  const log = path.join(bin, 'ranges');
  await writeFile(path.join(bin, 'fallocate'), `#!/bin/bash
set -e
[ "$1 $2 $4" = "--punch-hole --offset --length" ] || { echo "unexpected: $*" >&2; exit 2; }
dd if="$6" of='${side}' iflag=skip_bytes,count_bytes oflag=seek_bytes skip="$3" seek="$3" count="$5" bs=1M conv=notrunc status=none
echo "$3 $5" >> '${log}'
exec /usr/bin/fallocate "$@"
`);
  await chmod(path.join(bin, 'fallocate'), 0o755);
  const ranges = async () => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean)
    .map((l) => l.split(' ').map(Number) as [number, number]);
  return {
    bin,
    ranges,
    async restore(kept) {
      const dump = await readFile(kept);
      const punched = await ranges();
      const copied = punched.length > 0 ? await readFile(side) : Buffer.alloc(0);
      let zerosWhereGone = true;
      let end = 0;
      for (const [offset, length] of punched) {
        zerosWhereGone &&= dump.subarray(offset, offset + length).every((b) => b === 0);
        copied.copy(dump, offset, offset, offset + length);
        end = Math.max(end, offset + length);
      }
      return { dump, punched: end, zerosWhereGone };
    },
  };
}
