// The crash path's garbage is almost all outside V8's heap: 256 KiB read chunks and zlib/zstd
// output, a few hundred KiB of Buffers per 1 MiB of dump whose small wrappers V8 promotes while
// they are in flight. By default V8 starts a full collection for external memory only once it
// has grown ~64 MiB since the last one, so that much dead Buffer memory was resident at every
// peak of the upload (issues 10/12). With external memory counted in V8's global heap limit,
// collections come as the old generation's would, with external memory in the sum: peak
// RssAnon 86 -> 55 MiB on the side bench (bench/measure/follow-rss.ts) for ~5% more CPU; in
// the crash bench only together with reused read chunks (growing-file.ts): bench/README.md.
//
// Set at run time, not in NODE_FLAGS: a V8 that does not know the flag rejects it on the command
// line (the watchdog would not start), here it only prints one line. V8 11-12 (Node 20, 22) have
// no such flag; V8 later turns it on by default and removes it (513bb22991, cf511a65ad).
import { setFlagsFromString } from 'node:v8';

export const EXTERNAL_MEMORY_FLAG = '--external-memory-accounted-in-global-limit';

/** V8 majors known to have the flag, default off (Node 24 has 13.6, Node 26 14.6). */
export function v8HasExternalMemoryFlag(v8Version: string = process.versions.v8): boolean {
  const major = Number(/^(\d+)\./.exec(v8Version)?.[1]);
  return major >= 13 && major <= 14;
}

/** Counts Buffers' memory in V8's heap limit for the rest of this process (the upload path). */
export function collectExternalMemorySooner(v8Version: string = process.versions.v8): boolean {
  if (!v8HasExternalMemoryFlag(v8Version)) return false;
  setFlagsFromString(EXTERNAL_MEMORY_FLAG);
  return true;
}
