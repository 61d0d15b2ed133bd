// A heap dump can be as large as the heap, and the container's disk quota (default 1 GB)
// holds it all until it is uploaded: say so at start, not when the dump fails.
import { statfsSync } from 'node:fs';
import { PLAIN_DUMP_PER_HEAP } from './dump-strategy.ts';

/** Synchronous (one statfs): it runs before the app is spawned. */
export async function freeBytes(folder: string): Promise<number | undefined> {
  try {
    const s = statfsSync(folder);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/**
 * Bytes a heap dump may need on disk: a plain dump, larger than the heap (the same figure the
 * strategy line gives, dump-strategy.ts), or a third of the heap when the JVM gzips. Punching
 * behind the upload frees a plain dump only as fast as it uploads, so it does not count here.
 */
export function dumpNeeds(memoryLimit: number, jvmCompresses: boolean): number {
  return jvmCompresses ? Math.ceil(memoryLimit / 3) : Math.ceil(memoryLimit * PLAIN_DUMP_PER_HEAP);
}
