// Reads a file while another process is still writing it front to back (a JVM writing a
// heap dump, the kernel writing a core), so the upload overlaps the writing. New bytes
// are announced by inotify (fs.watch); we never poll while idle. The writer's end is
// signalled from outside (`complete()`: the JVM said "Heap dump file created", or it
// exited); after that the rest of the file is read up to its end.
import { watch, type FSWatcher } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';

export interface FollowOptions {
  chunkSize?: number;
  /** Safety net in case an inotify event is lost: re-check after this long without one. */
  recheckMs?: number;
  /** No growth for this long and no completion signal: treat as complete (writer gone quiet). */
  quietMs?: number;
  onQuiet?: () => void;
}

export interface FollowedFile {
  stream: Readable;
  /** The writer is done: read what is left and end. */
  complete(): void;
}

export function followGrowingFile(file: string, options: FollowOptions = {}): FollowedFile {
  // 256 KiB: a chunk whose wrapper V8 promotes while it is in flight pins its memory until a
  // full GC; at 1 MiB that garbage made 10-15 MiB of the watchdog's upload peak (crash bench).
  const chunkSize = options.chunkSize ?? 256 * 1024;
  const recheckMs = options.recheckMs ?? 1000;
  const quietMs = options.quietMs ?? 60_000;
  let completed = false;
  let wake: (() => void) | undefined;
  const nudge = () => { const w = wake; wake = undefined; w?.(); };

  async function* chunks(): AsyncGenerator<Buffer> {
    const handle = await open(file, 'r');
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(file, { persistent: false }, nudge);
      watcher.on('error', nudge);
      let position = 0;
      let lastGrowth = Date.now();
      for (;;) {
        const buffer = Buffer.allocUnsafe(chunkSize);
        const { bytesRead } = await handle.read(buffer, 0, chunkSize, position);
        if (bytesRead > 0) {
          position += bytesRead;
          lastGrowth = Date.now();
          yield bytesRead === chunkSize ? buffer : buffer.subarray(0, bytesRead);
          continue;
        }
        if (completed) {
          // One more read after the signal: bytes written just before it are not lost.
          const tail = await handle.read(buffer, 0, chunkSize, position);
          if (tail.bytesRead === 0) return;
          position += tail.bytesRead;
          yield buffer.subarray(0, tail.bytesRead);
          continue;
        }
        if (Date.now() - lastGrowth >= quietMs) {
          options.onQuiet?.();
          completed = true;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(nudge, recheckMs); // ref: a dump in progress is worth staying up for
        });
      }
    } finally {
      watcher?.close();
      await handle.close();
    }
  }

  return {
    stream: Readable.from(chunks(), { objectMode: false, highWaterMark: chunkSize }),
    complete: () => { completed = true; nudge(); },
  };
}
