// Whether the container has room for the watchdog to stream a dump while its writer is
// still alive. Streaming grows the watchdog (the S3 client at work, part buffers, compressor
// blocks, read chunks); a JVM that runs out of heap in a container sized to the limit leaves
// no room for that, and a page we fault in then can be the one the kernel answers with an OOM
// kill: of the JVM mid-dump, or of the watchdog itself in the moments after the JVM was killed
// (its memory is released only as its exit tears it down). Such a dump waits until its writer
// is done or gone, then streams from the finished file.
import type { MemoryCgroup } from './container-memory.ts';
import { readMemoryNow, type MemoryReading } from './memory-pressure.ts';

const MiB = 1024 * 1024;

/**
 * What streaming grows the watchdog by besides the part buffers: measured as the anonymous
 * memory's growth while a heap dump streams (crash bench: 63.6 MiB into S3 with 32 MiB of
 * part buffers; about 20 MiB into a folder), rounded up.
 */
export const STREAMING_OVERHEAD = 32 * MiB;

/** The watchdog's growth while it streams a dump into this store. */
export function streamingNeed(store: { kind: 's3' | 'file' }, partSize: number, queueSize: number): number {
  return STREAMING_OVERHEAD + (store.kind === 's3' ? partSize * queueSize : 0);
}

export type RoomVerdict =
  | { fits: true }
  | { fits: false; room: number; need: number; limit: number };

/**
 * Room = the limit less what reclaim cannot give back. No limit, or a cgroup that cannot be
 * read: it fits (nothing is known to protect; streaming as before).
 */
export function roomToStream(cgroup: MemoryCgroup, need: number, read: (cgroup: MemoryCgroup) => MemoryReading = readMemoryNow): RoomVerdict {
  let reading: MemoryReading;
  try {
    reading = read(cgroup);
  } catch {
    return { fits: true };
  }
  if (reading.limit === undefined) return { fits: true };
  const room = Math.max(0, reading.limit - reading.nonReclaimable);
  return room >= need ? { fits: true } : { fits: false, room, need, limit: reading.limit };
}
