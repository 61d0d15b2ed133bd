// Reads a file while another process is still writing it front to back (a JVM writing a
// heap dump, the kernel writing a core), so the upload overlaps the writing. New bytes
// are announced by inotify (fs.watch); we never poll while idle. The writer's end is
// signalled from outside (`complete()`: the JVM said "Heap dump file created", or it
// exited); after that the rest of the file is read up to its end.
// With a puncher, what has been read and handed on is punched out behind the reader (the
// bytes then live only in the upload), so a plain dump's disk goes back while it uploads.
// A consumer that copies chunks away (the parallel compressor) hands them back (`release`)
// and the next reads go into them: no read makes garbage then (issues 10/12: dead read chunks
// were most of the crash path's peak memory). Without releases every read takes a new buffer.
// While the reader is behind the writer, the next chunk's read is already on its way while the
// consumer works on the current one, and the file's allocated blocks are sampled every few MiB,
// not at every read: on a busy machine the trips through the thread pool, not the copies, were
// what held the crash path back (bench/README.md).
import { watch, type FSWatcher } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { stoppableReadable } from '../util/stoppable.ts';
import { PUNCH_ALIGN, type HolePuncher } from './hole-punch.ts';

/** The file's allocated blocks are sampled once per this many bytes read (and when caught up). */
export const DISK_SAMPLE_EVERY = 8 * 1024 * 1024;

export interface FollowOptions {
  chunkSize?: number;
  /** Safety net in case an inotify event is lost: re-check after this long without one. */
  recheckMs?: number;
  /** No growth for this long and no completion signal: treat as complete (writer gone quiet). */
  quietMs?: number;
  onQuiet?: () => void;
  /** Punch out what has been read: only for a file written strictly front to back that is ours to destroy. */
  punch?: HolePuncher;
}

export interface DiskUse {
  /** Most disk the file took while followed (its allocated blocks, sampled every DISK_SAMPLE_EVERY bytes read and whenever the reader caught up). */
  peakAllocated: number;
  /** Bytes punched out behind the reader: bytes [0, punched) are gone from the file. */
  punched: number;
  /** A punch still running ends here: bytes [punched, punchingTo) may be gone too. */
  punchingTo?: number;
}

export interface FollowedFile {
  stream: Readable;
  /** The writer is done: read what is left and end. */
  complete(): void;
  disk(): DiskUse;
  /** Bytes handed to the consumer so far. */
  handedOn(): number;
  /**
   * The consumer has started reading: a read it asked for has returned, with bytes or with
   * none yet (it then waits for the writer). What a held writer waits for (writer-pacing.ts).
   */
  started(): boolean;
  /**
   * The consumer is done with this chunk (copied it, keeps no reference): its memory may be
   * read into again. Only for chunks of this stream; a second call for the same chunk is ignored.
   */
  release(chunk: Buffer): void;
}

/** Released read buffers kept for reuse: the chunks in flight between reader and compressor. */
const MAX_SPARE = 4;

export function followGrowingFile(file: string, options: FollowOptions = {}): FollowedFile {
  // 256 KiB: a chunk whose wrapper V8 promotes while it is in flight pins its memory until a
  // full GC; at 1 MiB that garbage made 10-15 MiB of the watchdog's upload peak (crash bench).
  const chunkSize = options.chunkSize ?? 256 * 1024;
  const recheckMs = options.recheckMs ?? 1000;
  const quietMs = options.quietMs ?? 60_000;
  let completed = false;
  let wake: (() => void) | undefined;
  const nudge = () => { const w = wake; wake = undefined; w?.(); };
  const disk: DiskUse = { peakAllocated: 0, punched: 0 };
  let punching: Promise<void> | undefined;
  let punchingTo: number | undefined;
  /** Read buffers handed out, by their memory (a chunk may be a subarray of one). */
  const lent = new WeakMap<ArrayBufferLike, Buffer>();
  const spare: Buffer[] = [];

  async function sample(handle: FileHandle): Promise<void> {
    const { blocks } = await handle.stat();
    disk.peakAllocated = Math.max(disk.peakAllocated, blocks * 512);
  }

  /** Bytes before `handedOn` are in the consumer's hands: punch them out, a batch at a time, one fallocate at once. */
  function punchBehind(handedOn: number): void {
    const puncher = options.punch;
    const end = Math.floor(handedOn / PUNCH_ALIGN) * PUNCH_ALIGN;
    if (!puncher?.available || punching || end - disk.punched < puncher.everyBytes) return;
    const start = disk.punched;
    punchingTo = end;
    punching = puncher.punch(file, start, end - start).then((done) => {
      if (done) disk.punched = end;
      punching = undefined;
      punchingTo = undefined;
    });
  }

  let handedOn = 0;
  let started = false;
  async function* chunks(): AsyncGenerator<Buffer> {
    const handle = await open(file, 'r');
    let watcher: FSWatcher | undefined;
    /** The next chunk's read, started while the consumer works on the one before. */
    let ahead: { buffer: Buffer; read: Promise<number> } | undefined;
    try {
      watcher = watch(file, { persistent: false }, nudge);
      watcher.on('error', nudge);
      let position = 0;
      let lastGrowth = Date.now();
      const startRead = (at: number): { buffer: Buffer; read: Promise<number> } => {
        // Own memory (not the shared slab), so a released chunk is known by its ArrayBuffer.
        const buffer = spare.pop() ?? Buffer.allocUnsafeSlow(chunkSize);
        lent.set(buffer.buffer, buffer);
        const read = handle.read(buffer, 0, chunkSize, at).then((r) => r.bytesRead);
        read.catch(() => undefined); // a read ahead that fails is thrown when awaited, not as unhandled
        return { buffer, read };
      };
      const giveBack = (buffer: Buffer): void => {
        lent.delete(buffer.buffer);
        if (spare.length < MAX_SPARE) spare.push(buffer);
      };
      for (;;) {
        punchBehind(position);
        const current = ahead ?? startRead(position);
        ahead = undefined;
        const bytesRead = await current.read;
        started = true;
        // A stat per read was a second trip through the thread pool for every chunk.
        if (bytesRead === 0 || Math.floor((position + bytesRead) / DISK_SAMPLE_EVERY) > Math.floor(position / DISK_SAMPLE_EVERY)) await sample(handle);
        if (bytesRead > 0) {
          lastGrowth = Date.now();
          position += bytesRead;
          // A full chunk: the writer is ahead of us, so the next read runs while the consumer
          // works on this one. Each read waits its turn on the thread pool, which on a busy
          // machine takes longer than the copy itself (bench/README.md). Only one: a read past
          // a short one could find bytes written after it, behind a gap.
          if (bytesRead === chunkSize) ahead = startRead(position);
          handedOn = position;
          yield bytesRead === chunkSize ? current.buffer : current.buffer.subarray(0, bytesRead);
          continue;
        }
        giveBack(current.buffer);
        if (completed) {
          // One more read after the signal: bytes written just before it are not lost.
          const tail = startRead(position);
          const bytes = await tail.read;
          if (bytes === 0) {
            giveBack(tail.buffer);
            return;
          }
          position += bytes;
          handedOn = position;
          yield bytes === chunkSize ? tail.buffer : tail.buffer.subarray(0, bytes);
          continue;
        }
        if (Date.now() - lastGrowth >= quietMs) {
          options.onQuiet?.();
          completed = true;
          continue;
        }
        let recheck: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          recheck = setTimeout(nudge, recheckMs); // ref: a dump in progress is worth staying up for
        });
        clearTimeout(recheck);
        if (closed) return; // destroyed while waiting for the writer (below)
      }
    } finally {
      watcher?.close();
      await ahead?.read.catch(() => 0); // no read may outlive the handle
      await punching; // before the file may be removed under it
      await handle.close();
    }
  }

  // Destroying the stream (a deadline) while the writer has stalled: the loop is told to stop
  // (util/stoppable.ts), since the generator would only hear of it at its next yield.
  let closed = false;
  const stream = stoppableReadable(chunks(), () => { closed = true; nudge(); }, { highWaterMark: chunkSize });
  return {
    stream,
    complete: () => { completed = true; nudge(); },
    disk: () => ({ ...disk, ...(punchingTo !== undefined ? { punchingTo } : {}) }),
    handedOn: () => handedOn,
    started: () => started,
    release: (chunk) => {
      const buffer = lent.get(chunk.buffer);
      if (!buffer) return;
      lent.delete(chunk.buffer);
      if (spare.length < MAX_SPARE) spare.push(buffer);
    },
  };
}
