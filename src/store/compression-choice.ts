// Which compression the watchdog will use, decided at start without loading zlib: at start the
// watchdog holds only what watching needs (zlib and crypto come with the first crash, with the
// upload path), so the check touches zlib only when zstd was asked for.
import { createRequire } from 'node:module';
import type { Compression } from '../config/types.ts';

/**
 * zstd level of what we compress. Level 1 by bench/compress.ts on a real heap dump (1 MiB
 * blocks, Node 26, medians of 5 runs): 5.3 CPU s/GiB storing 0.202 of it, where level 3 took
 * 7.4 CPU s/GiB and stored more (0.224; zstd(1) agrees on single blocks), and the crash path
 * is CPU-bound.
 */
export const ZSTD_LEVEL = 1;

/** Whether this runtime's zlib compresses and decompresses zstd (Node >= 22.15; not Node 20). */
export function runtimeHasZstd(): boolean {
  const zlib = createRequire(import.meta.url)('node:zlib') as Record<string, unknown>;
  return typeof zlib['zstdCompress'] === 'function' && typeof zlib['createZstdDecompress'] === 'function';
}

/** The setting as this runtime can honour it; one line says what was chosen when it is zstd. */
export function usableCompression(requested: Compression, log: { info(line: string): void; warn(line: string): void }, hasZstd?: boolean): Compression {
  if (requested !== 'zstd') return requested;
  if (!(hasZstd ?? runtimeHasZstd())) {
    log.warn(`POSTMORTEM_COMPRESSION=zstd, but this Node.js ${process.version} has no zstd (it needs >= 22.15): compressing with gzip instead`);
    return 'gzip';
  }
  log.info(`evidence the watchdog compresses is zstd level ${ZSTD_LEVEL} (POSTMORTEM_COMPRESSION=zstd), stored as .zst: postmortem get decompresses it`);
  return 'zstd';
}
