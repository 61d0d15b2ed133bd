// One long-lived compressor that turns block after block into complete gzip members (or zstd
// frames), one block at a time, on libuv's thread pool. zlib.gzip / zlib.zstdCompress make a
// new engine per call: its ~270 KiB of state and a fresh output buffer per 1 MiB block, all
// counted as V8 external memory, which made V8 run a full collection every ~10 MiB of dump in
// the crash path (158 of them for a 1.32 GiB dump, a fifth of the watchdog's CPU:
// bench/README.md). Here the engine and its output buffer live as long as the stream: every
// write is processed with the finishing flush (one trip to the pool per block), which closes
// the member (trailer, or the frame's checksum), and reset() starts the next one on the same
// state, so each member is byte for byte what a fresh engine makes of that block. The output comes out as slices of zlib's
// own output buffer, which zlib replaces only once it is full, so the only new memory per
// block is what the block compressed to.
import type { BlockOptions, Codec, EngineStream } from './codecs.ts';

export type EngineDone = (error: Error | null, compressed: readonly Buffer[]) => void;

export class BlockEngine {
  readonly #stream: EngineStream;
  #chunks: Buffer[] = [];
  #done: EngineDone | undefined;
  #failed: Error | undefined;
  #closed = false;

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

  /** Compresses `block` into one complete member or frame; one block at a time per engine. */
  compress(block: Buffer, done: EngineDone): void {
    if (this.#done) throw new Error('BlockEngine: a block is already being compressed');
    if (this.#failed || this.#closed) {
      done(this.#failed ?? new Error('the compression engine is closed (its stream was destroyed)'), []);
      return;
    }
    this.#done = done;
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
      this.#finish(null);
    });
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
