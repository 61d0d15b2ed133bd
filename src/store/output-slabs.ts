// Compressed output written into memory the compressor owns and gets back. Node's zlib and zstd
// streams write into an output buffer of their own and allocate a new one whenever it is full;
// the pieces they push are views of it, so every compressed byte of a heap dump was new memory
// that died once the multipart writer had copied it into a part. Those buffers live long enough
// (queued behind a part upload) for V8 to move their wrappers to the old generation, so they are
// freed only by a full collection, and between two of those up to ~55 MiB of dead output sat in
// the watchdog's RSS in one crash in three (bench/README.md, eighth session).
//
// Here each block is compressed into a slab taken from a small fixed set; the pieces pushed are
// views of that slab, and the end of the pipeline (the S3 multipart writer, once it has copied a
// piece into a part; the folder store, once it is written) hands each piece back with
// `giveBack`. A slab whose pieces are all back is used again. The handing back is optional: a
// consumer that does not (a test, a tap that copies) only means slabs do not come back, and once all are out the engine writes
// into zlib's own buffers as before. Nothing here can change the bytes: a slab is reused only
// after every view of it was given back, and a piece given back twice or never lent is ignored.

/**
 * What each piece still out goes back to: the slab it is a view of, or a source's read buffer.
 * `returned` says whether the piece is now back for good (no other holder still reads it).
 */
const lentPieces = new WeakMap<Buffer, { returned(): boolean }>();

/** Tells the compressor that made `piece` (or the source that read it) that nothing will read it any more. */
export function giveBack(piece: Buffer): void {
  const owner = lentPieces.get(piece);
  if (owner?.returned()) lentPieces.delete(piece);
}

/**
 * Lends a source's own chunk down the pipeline as it is (an artifact stored as read, where no
 * compressor copies chunks into slabs): `back` runs once each of its `holders` (the store, and
 * a side reader such as the gunzip that hashes a .gz's content) gave it back, so the source
 * may read into its memory again instead of taking a new buffer per read.
 */
export function lendPiece(piece: Buffer, back: (piece: Buffer) => void, holders = 1): void {
  let out = holders;
  lentPieces.set(piece, {
    returned: () => {
      if (--out > 0) return false;
      back(piece);
      return true;
    },
  });
}

export class Slab {
  /** Pieces lent and not yet given back. */
  #out = 0;
  #onFree: (slab: Slab) => void;
  readonly buffer: Buffer;

  // Fields declared, not parameter properties: bench/compress.ts runs this file on the vendored
  // runtime's type stripping, which takes no parameter properties.
  constructor(buffer: Buffer, onFree: (slab: Slab) => void) {
    this.buffer = buffer;
    this.#onFree = onFree;
  }

  /** Lends `pieces` (views of this slab) to the pipeline; the slab is free again once all are back. */
  lend(pieces: readonly Buffer[]): void {
    for (const piece of pieces) {
      lentPieces.set(piece, this);
      this.#out++;
    }
    if (this.#out === 0) this.#onFree(this);
  }

  /** Whether `piece` is a view of this slab's memory. */
  holds(piece: Buffer): boolean {
    return piece.buffer === this.buffer.buffer;
  }

  /** One of this slab's pieces is back; each piece has one holder, so it is back for good. */
  returned(): true {
    this.#out--;
    if (this.#out === 0) this.#onFree(this);
    return true;
  }
}

/** A fixed number of output slabs of one size, made on first need. */
export class SlabSet {
  readonly #free: Slab[] = [];
  #made = 0;
  #peakOut = 0;

  readonly size: number;
  readonly count: number;

  constructor(size: number, count: number) {
    this.size = size;
    this.count = count;
  }

  /** A free slab, or undefined once `count` are out (the caller then uses zlib's own buffers). */
  take(): Slab | undefined {
    let slab = this.#free.pop();
    if (!slab && this.#made < this.count) {
      this.#made++;
      // Outside Node's shared pool, so that a view's .buffer identifies this slab alone.
      slab = new Slab(Buffer.allocUnsafeSlow(this.size), (back) => this.#free.push(back));
    }
    if (slab) this.#peakOut = Math.max(this.#peakOut, this.#made - this.#free.length);
    return slab;
  }

  /** Slabs made so far (never more than count). */
  get made(): number { return this.#made; }
  /** Most slabs out at once. */
  get peakOut(): number { return this.#peakOut; }
  /** Slabs out now (lent, or being written into). */
  get out(): number { return this.#made - this.#free.length; }
}
