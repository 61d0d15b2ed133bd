// Watches the app's output for the JVM's own words about a crash, without slowing the
// pass-through: lines are split across chunk boundaries with a small bounded carry.

export type OutputEvent =
  | { kind: 'heap-dump-started'; path: string }
  | { kind: 'heap-dump-written' }
  | { kind: 'out-of-memory' }
  | { kind: 'fatal-error' };

const MAX_CARRY = 8192;

export class OutputScanner {
  private carry = '';
  constructor(private readonly emit: (event: OutputEvent) => void) {}

  feed(chunk: Buffer): void {
    // Cheap pre-check: most output never mentions any of these words.
    const text = this.carry + chunk.toString('latin1');
    const lines = text.split('\n');
    this.carry = (lines.pop() ?? '').slice(-MAX_CARRY);
    for (const line of lines) this.scanLine(line);
  }

  /** The app ended: the last line may have no newline. */
  flush(): void {
    if (this.carry) this.scanLine(this.carry);
    this.carry = '';
  }

  private scanLine(line: string): void {
    if (line.length > 4096) return;
    let m: RegExpExecArray | null;
    if ((m = /^Dumping heap to (.+?) \.\.\.\s*$/.exec(line))) this.emit({ kind: 'heap-dump-started', path: m[1]! });
    else if (/^Heap dump file created \[/.test(line)) this.emit({ kind: 'heap-dump-written' });
    else if (/java\.lang\.OutOfMemoryError/.test(line)) this.emit({ kind: 'out-of-memory' });
    else if (/^# A fatal error has been detected by the Java Runtime Environment/.test(line)) this.emit({ kind: 'fatal-error' });
  }
}
