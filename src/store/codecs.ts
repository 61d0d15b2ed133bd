// The two compressions the watchdog can apply itself (POSTMORTEM_COMPRESSION) and what each
// needs: how one block becomes one self-contained member (gzip) or frame (zstd), the stored
// name and type, and a decompressor for the browse side. gzip is the default because every S3
// browser and heap analyser reads it (Eclipse MAT opens .hprof.gz); zstd needs fewer CPU
// seconds per GiB on the crash path (bench/compress.ts) but a `postmortem get` before MAT.
//
// zstd is in Node's zlib from 22.15 / 23.8: the vendored runtime has it, Node 20 has not, so
// everything here asks the runtime instead of assuming (and @types/node 20 does not know it).
import type { Duplex, Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { execa } from 'execa';
import type { Compression } from '../config/types.ts';
import { ZLIB_CHUNK_SIZE } from './taps.ts';
import { ZSTD_LEVEL } from './compression-choice.ts';

export type { Compression } from '../config/types.ts';

export { ZSTD_LEVEL, runtimeHasZstd, usableCompression } from './compression-choice.ts';

/** Options for compressing one block: zlib's (gzip) or zstd's parameters. */
export interface BlockOptions extends zlib.ZlibOptions {
  params?: Record<number, number | boolean>;
}

/** Compresses one block into one complete gzip member or zstd frame (in one or more pieces). */
export type CompressBlock = (block: Buffer, options: BlockOptions, done: (error: Error | null, compressed: Buffer | readonly Buffer[]) => void) => void;

/** A compressing stream as zlib makes them: reset() is what a BlockEngine needs besides write(). */
export type EngineStream = Transform & { reset(): void };

/** What Node >= 22.15 adds to zlib; absent (undefined) on Node 20. */
interface ZstdZlib {
  createZstdCompress?: (options?: BlockOptions) => EngineStream;
  createZstdDecompress?: (options?: BlockOptions) => Transform;
  constants: Record<string, number | undefined>;
}
const zstdZlib = zlib as unknown as ZstdZlib;

export interface Codec {
  name: Compression;
  /** Added to the stored name: heap.hprof -> heap.hprof.gz / heap.hprof.zst. */
  extension: string;
  /** Content-Type of the stored (compressed) object. */
  storedType: string;
  /** Levels the codec takes. */
  levels: { min: number; max: number };
  /** A long-lived compressing stream for BlockEngine, and the flush kind that ends a member or frame. */
  createStream(options: BlockOptions): EngineStream;
  finishFlush: number;
  /** Options for one block; `outputChunk`: zlib's output buffer size (chunkSize). */
  blockOptions(level: number, outputChunk: number): BlockOptions;
}

/**
 * An engine's output buffer: larger than a block's worst case (deflate's and zstd's bounds add
 * well under 1/64), so a member or frame needs at most two pieces of it, and zlib fills it
 * member after member before it takes a new one (block-engine.ts).
 */
export function blockOutputSize(blockSize: number): number {
  return blockSize + (blockSize >> 6) + 1024;
}

const GZIP: Codec = {
  name: 'gzip',
  extension: '.gz',
  storedType: 'application/gzip',
  levels: { min: 1, max: 9 },
  createStream: (options) => zlib.createGzip(options) as unknown as EngineStream,
  finishFlush: zlib.constants.Z_FINISH,
  // memLevel 9 (a 256 KiB hash table instead of 128 KiB, +128 KiB per engine): on a real heap
  // dump at level 1, 4-10% less deflate CPU (fewer hash collisions to walk) for the same ratio
  // (0.2678 vs 0.2674); the output is still plain gzip, the reader never sees memLevel.
  blockOptions: (level, outputChunk) => ({ level, memLevel: 9, chunkSize: outputChunk }),
};

const ZSTD: Codec = {
  name: 'zstd',
  extension: '.zst',
  storedType: 'application/zstd',
  levels: { min: 1, max: 19 },
  createStream: (options) => {
    if (!zstdZlib.createZstdCompress) throw new Error(`this Node.js ${process.version} has no zstd (zlib.createZstdCompress needs >= 22.15)`);
    return zstdZlib.createZstdCompress(options);
  },
  finishFlush: zstdZlib.constants['ZSTD_e_end'] ?? 2,
  blockOptions: (level, outputChunk) => ({
    chunkSize: outputChunk,
    // Each frame carries its own checksum (xxh64), as zstd(1) writes by default: zstd -t checks it.
    params: { [zstdZlib.constants['ZSTD_c_compressionLevel'] ?? 100]: level, [zstdZlib.constants['ZSTD_c_checksumFlag'] ?? 201]: 1 },
  }),
};

export function codecOf(compression: Compression): Codec {
  return compression === 'zstd' ? ZSTD : GZIP;
}


/**
 * A decompressor for stored bytes of `compression`. gzip: Node's gunzip (a cut-short stream
 * yields what is there when `partial`). zstd: Node's own where it has one (>= 22.15), else the
 * zstd command (`postmortem get` on a laptop's older Node.js), else an error saying what helps.
 */
export async function createDecompressor(compression: Compression, partial = false): Promise<Duplex> {
  if (compression === 'gzip') return zlib.createGunzip(partial ? { finishFlush: zlib.constants.Z_SYNC_FLUSH } : {});
  if (zstdZlib.createZstdDecompress) return zstdZlib.createZstdDecompress({ chunkSize: ZLIB_CHUNK_SIZE });
  const found = await execa('zstd', ['--version']).then(() => true, () => false);
  if (!found) {
    throw new Error(`the object is zstd-compressed and this Node.js ${process.version} cannot decompress zstd (it needs >= 22.15), nor is a zstd command on PATH: install zstd or a newer Node.js, or keep it compressed (--keep-compressed)`);
  }
  return execa('zstd', ['-dcq'], { stripFinalNewline: false }).duplex({ binary: true });
}

/** Whether a decompressor's error says the bytes are not valid (a verdict), not that reading failed. */
export function isDataError(error: unknown): boolean {
  const e = error as { code?: unknown; exitCode?: unknown } | undefined;
  // zlib: Z_DATA_ERROR, Z_BUF_ERROR…; Node's zstd: ZSTD_error_*; the zstd command: exit status 1.
  return /^(Z_|ZSTD_error)/.test(String(e?.code ?? '')) || typeof e?.exitCode === 'number';
}
