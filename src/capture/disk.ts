// A heap dump can be as large as the heap, and the container's disk quota (default 1 GB)
// holds it all until it is uploaded: say so at start, not when the dump fails.
import { statfs } from 'node:fs/promises';

/** MEMORY_LIMIT as the platform sets it ("1024m", "2g") in bytes. */
export function parseMemoryLimit(text: string | undefined): number | undefined {
  const m = /^(\d+)([kmg])?b?$/i.exec(text?.trim() ?? '');
  if (!m) return undefined;
  const unit = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? 'm').toLowerCase() as 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}

export async function freeBytes(folder: string): Promise<number | undefined> {
  const s = await statfs(folder).catch(() => undefined);
  return s ? s.bavail * s.bsize : undefined;
}

/** Bytes a heap dump may need on disk: the heap, or a third of it when the JVM gzips. */
export function dumpNeeds(memoryLimit: number, jvmCompresses: boolean): number {
  return jvmCompresses ? Math.ceil(memoryLimit / 3) : memoryLimit;
}
