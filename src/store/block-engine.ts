// One long-lived compressor that turns block after block into complete gzip members (or zstd
// frames), one block at a time, on libuv's thread pool. zlib.gzip / zlib.zstdCompress make a
// new engine per call: its ~270 KiB of state and a fresh output buffer per 1 MiB block, all
// counted as V8 external memory, which made V8 run a full collection every ~10 MiB of dump in
// the crash path (158 of them for a 1.32 GiB dump, a fifth of the watchdog's CPU:
// bench/README.md). Here the engine and its output buffer live as long as the stream: every
// write is processed with the finishing flush (one trip to the pool per block), which closes
// the member (trailer, or the frame's checksum), and reset() starts the next one on the same
// state, so each member is byte for byte what a fresh engine makes of that block. Given an
// output slab (output-slabs.ts), the member is written into it and lent out from it; without
// one, it comes out as slices of zlib's own output buffer, which zlib replaces once full.
import type { BlockOptions, Codec, EngineStream } from './codecs.ts';
import type { Slab } from './output-slabs.ts';

/** The fields of Node's zlib stream (lib/zlib.js, Node 20-26) that say where the next output goes. */
interface OutputFields { _outBuffer?: unknown; _outOffset?: unknown; _chunkSize?: unknown }

export type EngineDone = (error: Error | null, compressed: readonly Buffer[]) => void;

export class BlockEngine {
  readonly #stream: EngineStream;
  #chunks: Buffer[] = [];
  #done: EngineDone | undefined;
  #failed: Error | undefined;
  #closed = false;
  /** zlib's own output buffer and how far it is filled, while a slab is being written into. */
  #own: { buffer: Buffer; offset: number } | undefined;

  constructor(codec: Codec, options: BlockOptions) {
    // Every write ends its member: one trip to the thread pool per block, not a write and then a flush.
    this.#stream = codec.createStream({ ...options, flush: codec.finishFlush });
    // Flowing: each piece comes out as the thread pool returns it.
    this.#stream.on('data', (chunk: Buffer) => this.#chunks.push(chunk));
    this.#stream.on('error', (error: Error) => {
      this.#failed = error;
      this.#finish(error);
    });
  }

  /**
   * Compresses `block` into one complete member or frame; one block at a time per engine. With
   * a `slab` (output-slabs.ts) of the stream's output size, the member is written into it and
   * its pieces are lent out from it; without, into zlib's own output buffer.
   */
  compress(block: Buffer, done: EngineDone, slab?: Slab): void {
    if (this.#done) throw new Error('BlockEngine: a block is already being compressed');
    if (this.#failed || this.#closed) {
      slab?.lend([]);
      done(this.#failed ?? new Error('the compression engine is closed (its stream was destroyed)'), []);
      return;
    }
    this.#done = done;
    const into = this.#pointOutputAt(slab) ? slab : undefined;
    if (slab && !into) slab.lend([]); // not usable here: free again at once
    this.#stream.write(block, (error?: Error | null) => {
      // Closed while this block was on the thread pool: zlib still calls back, with its handle gone.
      if (this.#failed || this.#closed) return;
      if (error) {
        // A write to a closed engine fails here, without an 'error' event.
        this.#failed = error;
        this.#finish(error);
        return;
      }
      // zlib pushes a member's last piece before it calls back; a piece still buffered
      // (before the stream's first read) comes out as 'data' through read().
      while (this.#stream.readableLength > 0) this.#stream.read();
      this.#stream.reset();
      // Lend out what landed on the slab (all of it, unless the member outgrew it and zlib
      // went on in a buffer of its own); the slab comes back once every piece is given back.
      if (into) into.lend(this.#chunks.filter((piece) => into.holds(piece)));
      this.#finish(null);
    });
  }

  /**
   * Points zlib's next output at `slab` (true), keeping its own buffer for a later block without
   * one. Whenever the slab is not used (none, or not of the stream's output size), points it
   * back at its own buffer if the last block used a slab: that slab is lent out and zlib must
   * never write into it again. Always false when the stream is not laid out as expected (a
   * Node.js that changed lib/zlib.js): then the engine keeps zlib's own buffers throughout.
   */
  #pointOutputAt(slab: Slab | undefined): boolean {
    const fields = this.#stream as unknown as OutputFields;
    if (!Buffer.isBuffer(fields._outBuffer) || typeof fields._outOffset !== 'number' || typeof fields._chunkSize !== 'number') return false;
    if (slab && slab.buffer.length === fields._chunkSize) {
      this.#own ??= { buffer: fields._outBuffer, offset: fields._outOffset };
      fields._outBuffer = slab.buffer;
      fields._outOffset = 0;
      return true;
    }
    if (this.#own) {
      fields._outBuffer = this.#own.buffer;
      fields._outOffset = this.#own.offset;
      this.#own = undefined;
    }
    return false;
  }

  close(): void {
    this.#closed = true;
    this.#done = undefined;
    this.#stream.destroy();
  }

  #finish(error: Error | null): void {
    const done = this.#done;
    const chunks = this.#chunks;
    this.#done = undefined;
    this.#chunks = [];
    done?.(error, error ? [] : chunks);
  }
}
