// Peak disk use of a folder while something writes into it. This is the benchmark watching
// from outside (the product itself never polls): one walk at a time, every intervalMs,
// summing allocated blocks (st_blocks × 512), so sparse or preallocated files count as the
// disk they really take.
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

async function allocatedBytes(dir: string, depth = 0): Promise<number> {
  if (depth > 8) return 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  let total = 0;
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await allocatedBytes(full, depth + 1);
    else if (entry.isFile()) total += ((await lstat(full).catch(() => undefined))?.blocks ?? 0) * 512;
  }
  return total;
}

export interface DiskSampler {
  /** Stops sampling; resolves with the largest total seen and how many samples were taken. */
  stop(): Promise<{ peakBytes: number; samples: number }>;
}

export function sampleDiskPeak(dirs: string[], intervalMs = 50): DiskSampler {
  let peak = 0;
  let samples = 0;
  let running = true;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  const tick = () => {
    inFlight = (async () => {
      let total = 0;
      for (const dir of dirs) total += await allocatedBytes(dir);
      peak = Math.max(peak, total);
      samples += 1;
    })();
    void inFlight.finally(() => { if (running) timer = setTimeout(tick, intervalMs); });
  };
  tick();
  return {
    async stop() {
      running = false;
      clearTimeout(timer);
      await inFlight.catch(() => undefined);
      return { peakBytes: peak, samples };
    },
  };
}
