// A fixed pool of part buffers shared by every upload of one store: at most `count` buffers of
// `size` bytes ever exist, allocated on first use and reused, so the upload path's memory is
// size × count whatever the number or size of artifacts, and no part becomes garbage that
// waits for the collector (which, with external memory, comes late: issue 10/12).
export class PartPool {
  private readonly free: Buffer[] = [];
  private readonly waiters: { resolve: (b: Buffer) => void; reject: (e: unknown) => void; signal?: AbortSignal; onAbort: () => void }[] = [];
  private allocated = 0;
  private lent = 0;
  private peakLent = 0;

  constructor(readonly size: number, readonly count: number) {
    if (!Number.isInteger(size) || size < 1) throw new TypeError(`part buffer size must be a positive integer, got ${size}`);
    if (!Number.isInteger(count) || count < 1) throw new TypeError(`part buffer count must be a positive integer, got ${count}`);
  }

  /** Bytes the pool holds or may hold: the whole memory cost of uploading. */
  get capacityBytes(): number { return this.size * this.count; }
  /** Buffers allocated so far (never more than count). */
  get allocatedCount(): number { return this.allocated; }
  /** Most buffers lent out at once so far (never more than count). */
  get peakInUse(): number { return this.peakLent; }

  /** A buffer to fill; waits (first come, first served) when all are in use. */
  acquire(signal?: AbortSignal): Promise<Buffer> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const ready = this.free.pop();
    if (ready) return Promise.resolve(this.lend(ready));
    if (this.allocated < this.count) {
      this.allocated += 1;
      // Slow: its own allocation, never a slice of Node's shared pool, so release is exact.
      return Promise.resolve(this.lend(Buffer.allocUnsafeSlow(this.size)));
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve, reject, ...(signal ? { signal } : {}),
        onAbort: () => {
          const at = this.waiters.indexOf(waiter);
          if (at >= 0) this.waiters.splice(at, 1);
          reject(abortError(signal!));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Gives a buffer back; the longest waiter gets it. */
  release(buffer: Buffer): void {
    const waiter = this.waiters.shift();
    if (!waiter) { this.lent -= 1; this.free.push(buffer); return; }
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    waiter.resolve(buffer); // passed on: still lent
  }

  private lend(buffer: Buffer): Buffer {
    this.lent += 1;
    this.peakLent = Math.max(this.peakLent, this.lent);
    return buffer;
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return Object.assign(new Error(`aborted: ${reason instanceof Error ? reason.message : String(reason ?? 'no reason')}`), { name: 'AbortError', cause: reason });
}
