// Compresses an artifact on several cores at once: the content is cut into fixed-size blocks,
// each block becomes one self-contained unit, compressed on libuv's thread pool, and the units
// are emitted in input order. gzip: one complete member per block; concatenated members are one
// valid .gz file (RFC 1952 §2.2): gzip -t, zcat, Node's gunzip and Eclipse MAT read all of them,
// as they do the JVM's own HeapDumpGzipLevel output, which is built the same way. zstd: one
// frame per block (with its checksum); concatenated frames are one valid .zst stream (RFC 8878
// §3: zstd -d and Node's zstd decompressor read them in sequence). The codec is codecs.ts's.
//
// Memory is fixed, not proportional to the artifact: at most concurrency + 1 block buffers
// exist (the blocks being compressed plus the one being filled), allocated once on first need
// and reused, so the content is copied once into memory we already own and makes no garbage.
// A block's buffer is reused only once its unit has been emitted, so a slow block holds
// back the ones after it instead of letting finished units pile up behind it: at most
// `concurrency` units wait for their turn. Input is also held back once the readable side
// holds a block's worth; the blocks still out may then land on top, so the compressed bytes
// held stay under one block + (concurrency + 1) units (test/store/parallel-gzip.test.ts
// asserts both bounds). In all: (concurrency + 1) blocks + that output, about
// (2 x concurrency + 3) blocks for incompressible data, far less for a heap dump (~0.27x).
// Blocks are compressed by at most `concurrency` engines (block-engine.ts), made on first need
// and reused block after block, each with the codec's state (~270 KiB for zlib at level 1) and
// one output buffer of a block's worst case (codecs.ts blockOutputSize) that it fills member
// after member. The member itself goes into an output slab (output-slabs.ts) lent to the
// writer and given back once copied into a part, so with the S3 store a block makes no new
// memory at all; with a consumer that does not give back, only its compressed bytes. A `consumed` callback
// hears when a written chunk is all copied into blocks, so its source can read into it again
// (src/capture/growing-file.ts): no read garbage either.
import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { BlockEngine } from './block-engine.ts';
import { SlabSet } from './output-slabs.ts';
import { blockOutputSize, codecOf, type BlockOptions, type Codec, type CompressBlock, type Compression } from './codecs.ts';

export type { CompressBlock } from './codecs.ts';

/**
 * 1 MiB, by measurement (bench/compress.ts on a real heap dump, level 1, 2 shared cores): 1, 4
 * and 8 MiB blocks store the same ratio (0.271 vs 0.271 on 256 MiB; deflate's window is 32 KiB,
 * so a member boundary costs ~18 bytes and a few lost matches); throughput differences between
 * them were within the noise (per-round ratio to one zlib stream 1.27x / 1.22x in one run,
 * 1.16x / 1.45x in the next); 1 MiB costs ~5% more CPU than 4 MiB (a zlib engine per block),
 * but the fixed memory is (concurrency + 1) x block: 3 MiB on 2 cores instead of 12, 4 MiB at
 * most instead of 16, which counts against the app's container limit. 256 KiB: more CPU still.
 */
export const DEFAULT_BLOCK_SIZE = 1024 * 1024;

/**
 * libuv's thread pool has 4 threads unless UV_THREADPOOL_SIZE says otherwise, and file reads
 * (the dump being read) and DNS lookups (the S3 endpoint) queue on the same pool: leave one.
 */
export const MAX_DEFAULT_CONCURRENCY = 3;

export function defaultConcurrency(): number {
  return Math.max(1, Math.min(availableParallelism(), MAX_DEFAULT_CONCURRENCY));
}

export interface ParallelCompressOptions {
  /** gzip (default) or zstd (POSTMORTEM_COMPRESSION). */
  codec?: Compression;
  /** gzip: zlib level 1-9 (the gzipLevel setting); zstd: 1-19; default 1. */
  level?: number;
  /** Content bytes per gzip member or zstd frame; default DEFAULT_BLOCK_SIZE. */
  blockSize?: number;
  /** Blocks compressed at once; default defaultConcurrency(). */
  concurrency?: number;
  /** One engine per block in flight (block-engine.ts) unless a test gives its own compress. */
  compress?: CompressBlock;
  /** Told once a written chunk is all copied into blocks: nothing here refers to it any more. */
  consumed?: (chunk: Buffer) => void;
}

/** What the instance holds, for tests and the memory budget. */
export interface ParallelCompressUsage {
  /** Block buffers allocated (never more than concurrency + 1; they are reused). */
  blockBuffers: number;
  /** Most block buffers ever in use at once (filling, waiting or compressing). */
  peakBlocksInUse: number;
  /** Most blocks ever being compressed at once. */
  peakInFlight: number;
  /** Most compressed bytes ever held: members waiting for their turn + the readable buffer. */
  peakOutputBytes: number;
  /** Compression engines made (never more than concurrency; reused block after block). */
  engines: number;
  /** Engines still open (all are closed once the stream ends or is destroyed). */
  openEngines: number;
  /** Output slabs made (never more than maxOutputSlabs) and most of them out at once. */
  outputSlabs: number;
  peakOutputSlabsOut: number;
}

interface Block {
  seq: number;
  buffer: Buffer;
  length: number;
}

export class ParallelCompress extends Transform {
  readonly #codec: Codec;
  readonly #level: number;
  readonly #blockSize: number;
  readonly #concurrency: number;
  readonly #compress: CompressBlock;
  readonly #consumed: ((chunk: Buffer) => void) | undefined;
  readonly #blockOptions: BlockOptions;
  /** Buffers back from the compressor, ready to be filled again. */
  #free: Buffer[] = [];
  #allocated = 0;
  #filling: Block | undefined;
  /** Full blocks waiting for a compressor slot, in order. */
  #queued: Block[] = [];
  #inFlight = 0;
  #nextSeq = 0;
  #nextToEmit = 0;
  /** Compressed members that finished before an earlier one, with their block's buffer. */
  #finished = new Map<number, { member: readonly Buffer[]; bytes: number; buffer: Buffer }>();
  /** Engines not compressing right now; at most `concurrency` exist, all in #engines. */
  #idleEngines: BlockEngine[] = [];
  #engines: BlockEngine[] = [];
  #enginesMade = 0;
  /** Output memory for the engines, lent downstream and given back (output-slabs.ts). */
  readonly #slabs: SlabSet;
  #finishedBytes = 0;
  /** Input held back until a block buffer is free again. */
  #awaitingBuffer: (() => void) | undefined;
  /** Input held back until the consumer reads (readable side full). */
  #awaitingRead: (() => void) | undefined;
  #flushing: TransformCallback | undefined;
  /** _read was called and nothing was pushed since. */
  #readWanted = false;
  #peakBlocksInUse = 0;
  #peakInFlight = 0;
  #peakOutputBytes = 0;

  constructor(options: ParallelCompressOptions = {}) {
    const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    // About one member may wait in the readable buffer before input is held back.
    super({ readableHighWaterMark: blockSize });
    this.#codec = codecOf(options.codec ?? 'gzip');
    this.#level = options.level ?? 1;
    this.#blockSize = blockSize;
    this.#concurrency = options.concurrency ?? defaultConcurrency();
    this.#compress = options.compress ?? this.#compressOnEngine;
    this.#consumed = options.consumed;
    // An engine's output buffer is reused until full: one the size of a block's worst case holds
    // a member or several (codecs.ts blockOutputSize).
    this.#blockOptions = this.#codec.blockOptions(this.#level, blockOutputSize(blockSize));
    this.#slabs = new SlabSet(blockOutputSize(blockSize), this.maxOutputSlabs);
    const { min, max } = this.#codec.levels;
    if (!Number.isInteger(this.#level) || this.#level < min || this.#level > max) {
      throw new TypeError(`ParallelCompress ${this.#codec.name} level must be an integer ${min}-${max}${this.#codec.name === 'gzip' ? ' (gzipLevel)' : ''}, got ${String(options.level)}`);
    }
    if (!Number.isInteger(blockSize) || blockSize < 64 * 1024) {
      throw new TypeError(`ParallelCompress blockSize must be an integer >= 65536 bytes, got ${String(options.blockSize)}`);
    }
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new TypeError(`ParallelCompress concurrency must be an integer >= 1, got ${String(options.concurrency)}`);
    }
  }

  /** Most block buffers this instance can ever hold: the memory bound is this × blockSize. */
  get maxBlockBuffers(): number {
    return this.#concurrency + 1;
  }

  /**
   * Output slabs at most: one per block being compressed, the members waiting for their turn
   * (concurrency), and what the readable buffer (a block's worth: ~4 members of a heap dump),
   * the last tap and the writer hold. Measured in the bench's crash: 3-8 out at once with 2
   * engines; beyond the bound the engines fall back to zlib's own buffers.
   */
  get maxOutputSlabs(): number {
    return 2 * this.#concurrency + 6;
  }

  get usage(): ParallelCompressUsage {
    return {
      blockBuffers: this.#allocated,
      peakBlocksInUse: this.#peakBlocksInUse,
      peakInFlight: this.#peakInFlight,
      peakOutputBytes: this.#peakOutputBytes,
      engines: this.#enginesMade,
      openEngines: this.#engines.length,
      outputSlabs: this.#slabs.made,
      peakOutputSlabsOut: this.#slabs.peakOut,
    };
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#fill(chunk, 0, callback);
  }

  /** Copies `chunk` from `offset` into blocks; calls `callback` once all of it is in. */
  #fill(chunk: Buffer, offset: number, callback: TransformCallback): void {
    let at = offset;
    while (at < chunk.length) {
      if (!this.#filling) {
        const buffer = this.#takeBuffer();
        if (!buffer) {
          this.#awaitingBuffer = () => this.#fill(chunk, at, callback);
          return;
        }
        this.#filling = { seq: this.#nextSeq++, buffer, length: 0 };
      }
      const block = this.#filling;
      const copied = chunk.copy(block.buffer, block.length, at, Math.min(chunk.length, at + this.#blockSize - block.length));
      block.length += copied;
      at += copied;
      if (block.length === this.#blockSize) this.#submit();
    }
    this.#consumed?.(chunk);
    // Hold the input while the consumer is behind. Once _read was called, Readable will not
    // call it again before our next push, so holding then would never be released.
    if (this.readableLength >= this.readableHighWaterMark && !this.#readWanted) this.#awaitingRead = () => callback();
    else callback();
  }

  override _read(size: number): void {
    this.#readWanted = true;
    const awaiting = this.#awaitingRead;
    this.#awaitingRead = undefined;
    awaiting?.();
    super._read(size);
  }

  override _flush(callback: TransformCallback): void {
    // An empty input still makes a valid .gz / .zst: one empty member or frame, as gzip(1) and zstd(1) write.
    if (this.#filling || this.#nextSeq === 0) {
      this.#filling ??= { seq: this.#nextSeq++, buffer: Buffer.alloc(0), length: 0 };
      this.#submit();
    }
    this.#flushing = callback;
    this.#finishIfDone();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Blocks already on the thread pool cannot be recalled; their results are dropped on return.
    this.#free = [];
    this.#filling = undefined;
    this.#queued = [];
    this.#finished.clear();
    this.#finishedBytes = 0;
    this.#awaitingBuffer = undefined;
    this.#awaitingRead = undefined;
    this.#flushing = undefined;
    this.#closeEngines();
    callback(error);
  }

  readonly #compressOnEngine: CompressBlock = (block, options, done) => {
    let engine = this.#idleEngines.pop();
    if (!engine) {
      try {
        engine = new BlockEngine(this.#codec, options);
      } catch (error) {
        done(error instanceof Error ? error : new Error(String(error)), []);
        return;
      }
      this.#engines.push(engine);
      this.#enginesMade++;
    }
    const taken = engine;
    taken.compress(block, (error, compressed) => {
      if (!error) this.#idleEngines.push(taken);
      done(error, compressed);
    }, this.#slabs.take());
  };

  #closeEngines(): void {
    for (const engine of this.#engines) engine.close();
    this.#engines = [];
    this.#idleEngines = [];
  }

  #takeBuffer(): Buffer | undefined {
    let buffer = this.#free.pop();
    if (!buffer && this.#allocated < this.maxBlockBuffers) {
      this.#allocated++;
      // Outside Node's shared slab: these live as long as the stream and are reused.
      buffer = Buffer.allocUnsafeSlow(this.#blockSize);
    }
    if (buffer) this.#peakBlocksInUse = Math.max(this.#peakBlocksInUse, this.#allocated - this.#free.length);
    return buffer;
  }

  #submit(): void {
    const block = this.#filling as Block;
    this.#filling = undefined;
    this.#queued.push(block);
    this.#startQueued();
  }

  #startQueued(): void {
    while (this.#inFlight < this.#concurrency && this.#queued.length > 0) {
      const block = this.#queued.shift() as Block;
      this.#inFlight++;
      this.#peakInFlight = Math.max(this.#peakInFlight, this.#inFlight);
      this.#compress(block.buffer.subarray(0, block.length), this.#blockOptions, (error, member) => this.#compressed(block, error, member));
    }
  }

  #compressed(block: Block, error: Error | null, compressed: Buffer | readonly Buffer[]): void {
    this.#inFlight--;
    if (this.destroyed) return;
    if (error) {
      this.destroy(new Error(`${this.#codec.name} of block ${block.seq} (${block.length} bytes at offset ${block.seq * this.#blockSize}) failed: ${error.message}`, { cause: error }));
      return;
    }
    const member = Buffer.isBuffer(compressed) ? [compressed] : compressed;
    const bytes = member.reduce((sum, piece) => sum + piece.length, 0);
    this.#finished.set(block.seq, { member, bytes, buffer: block.buffer });
    this.#finishedBytes += bytes;
    this.#peakOutputBytes = Math.max(this.#peakOutputBytes, this.#finishedBytes + this.readableLength);
    this.#emitInOrder();
    this.#startQueued();
    const awaiting = this.#awaitingBuffer;
    this.#awaitingBuffer = undefined;
    awaiting?.();
    this.#finishIfDone();
  }

  #emitInOrder(): void {
    for (let done = this.#finished.get(this.#nextToEmit); done; done = this.#finished.get(this.#nextToEmit)) {
      const { member, bytes, buffer } = done;
      this.#finished.delete(this.#nextToEmit);
      if (buffer.length > 0) this.#free.push(buffer); // the empty member's placeholder is not a block
      this.#finishedBytes -= bytes;
      this.#nextToEmit++;
      for (const piece of member) {
        this.#readWanted = false; // before push: the consumer may call _read from inside it
        this.push(piece);
      }
    }
  }

  #finishIfDone(): void {
    if (!this.#flushing || this.#nextToEmit < this.#nextSeq) return;
    const flushed = this.#flushing;
    this.#flushing = undefined;
    this.#closeEngines();
    flushed();
  }
}
