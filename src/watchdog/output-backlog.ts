// The app's output from its first byte to the moment the watch is ready (the watch is loaded
// after the spawn, so that the app starts sooner). The bytes themselves are passed through
// at once either way; this keeps what the watch would have seen (log tail, the JVM's words),
// bounded, and hands it over in order.

/** More than this before the watch is ready is passed through but not kept for the watch. */
export const BACKLOG_BYTES = 4 * 1024 * 1024;

export class OutputBacklog {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private dropped = 0;
  private target: ((chunk: Buffer) => void) | undefined;
  private closed = false;

  constructor(private readonly limit = BACKLOG_BYTES) {}

  /** For startApp's onOutput: kept until the watch is ready, then passed straight to it. */
  readonly onOutput = (chunk: Buffer): void => {
    if (this.target) return this.target(chunk);
    if (this.closed) return;
    // Once one chunk did not fit, none after it is kept either: the watch sees a whole
    // beginning, not pieces with holes in them.
    if (this.dropped > 0 || this.bytes + chunk.length > this.limit) {
      this.dropped += chunk.length;
      return;
    }
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  };

  /** The watch is ready: what was kept goes to it in order, and all that follows. Returns the bytes it never saw. */
  deliverTo(target: (chunk: Buffer) => void): number {
    const kept = this.chunks;
    this.chunks = [];
    this.bytes = 0;
    for (const chunk of kept) target(chunk);
    this.target = target;
    return this.dropped;
  }

  /** There will be no watch: nothing more is kept. */
  discard(): void {
    this.closed = true;
    this.chunks = [];
    this.bytes = 0;
  }
}
