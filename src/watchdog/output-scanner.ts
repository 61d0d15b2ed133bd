// Watches the app's output for the JVM's own words about a crash, without slowing the
// pass-through: lines are split across chunk boundaries with a small bounded carry.
import { oomMessageIn } from '../capture/oom-kind.ts';

export type OutputEvent =
  | { kind: 'heap-dump-started'; path: string }
  | { kind: 'heap-dump-written' }
  /** The JVM gave up on a dump ("Dump file is incomplete: No space left on device"). */
  | { kind: 'heap-dump-failed'; reason: string }
  /** message: the JVM's text after "OutOfMemoryError: " ('' when none). */
  | { kind: 'out-of-memory'; message: string }
  | { kind: 'fatal-error' };

const MAX_CARRY = 8192;
/** Every event's line contains one of these; a chunk with none is skipped without decoding. */
const MARKERS = ['OutOfMemoryError', 'Dumping heap to', 'Heap dump file created', 'Dump file is incomplete', 'A fatal error has been detected'].map((m) => Buffer.from(m, 'latin1'));
/** Enough of the previous chunk's end to hold a marker split across two chunks. */
const LOOKBEHIND = 64;

export class OutputScanner {
  private carry = '';
  constructor(private readonly emit: (event: OutputEvent) => void) {}

  feed(chunk: Buffer): void {
    // Most output never mentions these words: a native substring search per marker costs far
    // less than decoding and splitting every line (this sits on the log's hot path).
    if (!MARKERS.some((m) => chunk.includes(m)) && !this.markerAcrossBoundary(chunk)) {
      const lastNewline = chunk.lastIndexOf(10);
      const rest = lastNewline >= 0 ? chunk.subarray(lastNewline + 1) : chunk;
      this.carry = lastNewline >= 0 ? rest.subarray(-MAX_CARRY).toString('latin1') : (this.carry + rest.toString('latin1')).slice(-MAX_CARRY);
      return;
    }
    const text = this.carry + chunk.toString('latin1');
    const lines = text.split('\n');
    this.carry = (lines.pop() ?? '').slice(-MAX_CARRY);
    for (const line of lines) this.scanLine(line);
  }

  private markerAcrossBoundary(chunk: Buffer): boolean {
    if (this.carry.length === 0) return false;
    const joint = Buffer.concat([Buffer.from(this.carry.slice(-LOOKBEHIND), 'latin1'), chunk.subarray(0, LOOKBEHIND)]);
    return MARKERS.some((m) => joint.includes(m));
  }

  /** The app ended: the last line may have no newline. */
  flush(): void {
    if (this.carry) this.scanLine(this.carry);
    this.carry = '';
  }

  private scanLine(line: string): void {
    if (line.length > 4096) return;
    let m: RegExpExecArray | null;
    let oom: string | undefined;
    if ((m = /^Dumping heap to (.+?) \.\.\.\s*$/.exec(line))) this.emit({ kind: 'heap-dump-started', path: m[1]! });
    else if (/^Heap dump file created \[/.test(line)) this.emit({ kind: 'heap-dump-written' });
    else if ((m = /^Dump file is incomplete: ?(.*)$/.exec(line))) this.emit({ kind: 'heap-dump-failed', reason: m[1]!.trim() || 'no reason given' });
    else if ((oom = oomMessageIn(line)) !== undefined) this.emit({ kind: 'out-of-memory', message: oom });
    else if (/^# A fatal error has been detected by the Java Runtime Environment/.test(line)) this.emit({ kind: 'fatal-error' });
  }
}
