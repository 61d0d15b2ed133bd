// The last N bytes of the app's output, kept for the crash's log tail. Chunks are kept as
// they arrived (no copying per write); old chunks are dropped once over the budget.

export class LogTail {
  private chunks: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    if (this.limit <= 0) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.chunks.length > 1 && this.bytes - this.chunks[0]!.length >= this.limit) {
      this.bytes -= this.chunks.shift()!.length;
    }
  }

  /** At most `limit` bytes, the most recent ones. */
  snapshot(): Buffer {
    const all = Buffer.concat(this.chunks, this.bytes);
    return all.length > this.limit ? all.subarray(all.length - this.limit) : all;
  }
}
