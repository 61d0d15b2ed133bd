// A heap dump can be as large as the heap, and the container's disk quota (default 1 GB)
// holds it all until it is uploaded: say so at start, not when the dump fails.
import { statfsSync } from 'node:fs';

/** Synchronous (one statfs): it runs before the app is spawned. */
export async function freeBytes(folder: string): Promise<number | undefined> {
  try {
    const s = statfsSync(folder);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** Bytes a heap dump may need on disk: the heap, or a third of it when the JVM gzips. */
export function dumpNeeds(memoryLimit: number, jvmCompresses: boolean): number {
  return jvmCompresses ? Math.ceil(memoryLimit / 3) : memoryLimit;
}
