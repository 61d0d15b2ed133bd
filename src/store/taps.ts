// Taps: Transform streams that sit in the one pass from source to store and observe or
// change the bytes on the way, so hashing and compression never need a second read.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { giveBack, lendPiece } from './output-slabs.ts';

/** zlib's output buffer; 256 KiB measured ~25% faster than the 16 KiB default at level 1. */
export const ZLIB_CHUNK_SIZE = 256 * 1024;

export interface Digest {
  /** Lower-case hex sha256; '' when it could not be computed (see error). */
  sha256: string;
  bytes: number;
  /** Why sha256 is missing, e.g. a truncated gzip source. */
  error?: string;
}

/** Passes bytes through unchanged, counting and hashing them. */
export class HashTap extends Transform {
  readonly #hash = createHash('sha256');
  readonly #onBytes: ((total: number) => void) | undefined;
  /** heap histogram (issue 13): sees each content chunk; must not throw (ContentObserver). */
  readonly #observe: ContentObserver | undefined;
  readonly #lendTo: ((chunk: Buffer) => void) | undefined;
  #bytes = 0;
  #sha256: string | undefined;

  /**
   * `keepPieces`: hand each chunk on as the object it came in. A byte stream's reader gets all
   * that is buffered joined into one new Buffer, which would lose compressed pieces lent from
   * output slabs (output-slabs.ts) on their way to the multipart writer; one piece is held.
   * `lendTo`: each chunk is lent on as it is (output-slabs.ts `lendPiece`) and goes back to this
   * function once the store has copied or written it; implies `keepPieces`.
   */
  constructor(onBytes?: (total: number) => void, observe?: ContentObserver, options: { keepPieces?: boolean; lendTo?: (chunk: Buffer) => void } = {}) {
    super(options.keepPieces || options.lendTo ? { readableObjectMode: true, readableHighWaterMark: 1 } : {});
    this.#onBytes = onBytes;
    this.#observe = observe;
    this.#lendTo = options.lendTo;
  }

  get bytes(): number {
    return this.#bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.length;
    this.#onBytes?.(this.#bytes);
    const behind = this.#observe?.(chunk);
    if (this.#lendTo) lendPiece(chunk, this.#lendTo);
    if (behind) void behind.then(() => callback(null, chunk));
    else callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#sha256 = this.#hash.digest('hex');
    callback();
  }

  /** Only valid once the stream has ended: a partial hash would look like a real one. */
  digest(): Digest {
    if (this.#sha256 === undefined) throw new Error('HashTap.digest() called before the stream ended');
    return { sha256: this.#sha256, bytes: this.#bytes };
  }
}

/**
 * Sees every chunk of an artifact's content (uncompressed) on its one pass to the store, e.g.
 * the heap histogram (src/capture/heap-histogram.ts). Must not throw; a promise it returns
 * holds the stream until it settles (back-pressure from a consumer that runs elsewhere).
 */
export type ContentObserver = (chunk: Buffer) => Promise<void> | undefined | void;

/**
 * For sources that are gzip already (the JVM's .hprof.gz): passes the compressed bytes
 * through unchanged and, on the side, gunzips them to hash the content. Each chunk goes
 * downstream before the side sees it, so the store only waits when the side falls behind
 * (back-pressure, bounded memory). Node's gunzip decodes every member of a multi-member
 * file, which is what the JVM writes. A broken or truncated gzip does not stop the main
 * stream: the evidence is still stored, and the digest says why it has no content hash.
 */
export class GunzipHashTap extends Transform {
  readonly #gunzip = createGunzip({ chunkSize: ZLIB_CHUNK_SIZE });
  readonly #lendTo: ((chunk: Buffer) => void) | undefined;
  readonly #hash = createHash('sha256');
  readonly #sideSettled: Promise<void>;
  #bytes = 0;
  #sha256: string | undefined;
  #error: Error | undefined;
  /** The upstream callback held back while the side drains. */
  #waiting: (() => void) | undefined;

  /**
   * `lendTo`: each chunk is lent on as it is (its object, not joined with others) and goes back
   * to this function once both the store and the gunzip on the side are done with it.
   */
  constructor(onContentBytes?: (total: number) => void, observe?: ContentObserver, options: { lendTo?: (chunk: Buffer) => void } = {}) {
    super(options.lendTo ? { readableObjectMode: true, readableHighWaterMark: 1 } : {});
    this.#lendTo = options.lendTo;
    this.#gunzip.on('data', (chunk: Buffer) => {
      this.#hash.update(chunk);
      this.#bytes += chunk.length;
      onContentBytes?.(this.#bytes);
      const behind = observe?.(chunk); // heap histogram (issue 13): waits when its parser is behind
      if (behind) {
        this.#gunzip.pause();
        void behind.then(() => this.#gunzip.resume());
      }
    });
    this.#gunzip.on('drain', () => this.#release());
    this.#sideSettled = new Promise((resolve) => {
      this.#gunzip.once('end', resolve);
      this.#gunzip.once('close', resolve);
      this.#gunzip.once('error', (error) => {
        this.#error = error;
        this.#release();
        resolve();
      });
    });
  }

  #release(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const side = this.#error === undefined;
    // Two holders while the side reads it: the gunzip may still be decoding it after the store copied it.
    if (this.#lendTo) lendPiece(chunk, this.#lendTo, side ? 2 : 1);
    this.push(chunk);
    if (!side) return callback();
    // Once zlib has taken all of it (a destroyed gunzip calls back with an error: the store's give-back alone is not enough then, and the chunk is simply not reused).
    const flowing = this.#gunzip.write(chunk, (error) => { if (!error) giveBack(chunk); });
    if (flowing) return callback();
    this.#waiting = () => callback();
  }

  override _flush(callback: TransformCallback): void {
    if (!this.#error) this.#gunzip.end();
    void this.#sideSettled.then(() => {
      if (!this.#error) this.#sha256 = this.#hash.digest('hex');
      callback();
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#gunzip.destroy();
    callback(error);
  }

  digest(): Digest {
    if (this.#error) {
      return { sha256: '', bytes: this.#bytes, error: `gunzip failed after ${this.#bytes} content bytes: ${this.#error.message}` };
    }
    if (this.#sha256 === undefined) throw new Error('GunzipHashTap.digest() called before the stream ended');
    return { sha256: this.#sha256, bytes: this.#bytes };
  }
}
