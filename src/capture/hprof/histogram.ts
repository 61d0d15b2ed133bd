// The class histogram of a heap dump, shaped from what HprofParser counted: the figures people
// compare with `jcmd <pid> GC.class_histogram` (instances and shallow bytes per class), the
// totals, the threads with their stacks and the one that threw OutOfMemoryError.
import { HprofParser, PRIMITIVE_NAMES, type HeapLayout } from './parser.ts';

export interface HistogramEntry {
  /** Java's spelling: java.lang.String, byte[], java.lang.Object[][]. */
  name: string;
  instances: number;
  /** Shallow bytes in the JVM's heap (see sizeModel). */
  bytes: number;
  kind: 'instance' | 'object-array' | 'primitive-array' | 'class';
}

export interface StackFrame {
  /** Class.method, e.g. java.util.ArrayList.grow */
  method: string;
  signature: string;
  source: string;
  /** > 0 a line; otherwise what HotSpot knows: 'unknown', 'compiled', 'native' or 'no line info'. */
  line: number | string;
}

export interface HeapThread {
  serial: number;
  /** The java.lang.Thread object's id in the dump (hex). */
  objectId: string | null;
  frames: StackFrame[];
  /** HotSpot adds a frame "OutOfMemoryError.<init>" on top of the stack of the thread that threw it. */
  threwOutOfMemoryError: boolean;
}

export interface HeapHistogram {
  schema: 1;
  /** false: the dump was truncated or malformed; the figures cover what was read (see reason). */
  complete: boolean;
  reason?: string;
  format: { version: string; identifierSize: number; dumpedAt: string | null };
  sizeModel: HeapLayout & { description: string };
  totals: {
    objects: number;
    bytes: number;
    instances: number;
    arrays: number;
    /** Classes loaded (CLASS DUMP records). */
    classes: number;
    /** Rows of the histogram (classes with at least one object). */
    entries: number;
    gcRoots: Record<string, number>;
    bytesRead: number;
    /** Names the dump referenced but the parser could not resolve or keep. */
    namesMissing: number;
  };
  entries: HistogramEntry[];
  threads: HeapThread[];
  /** The thread that threw OutOfMemoryError, when the dump says (HotSpot's extra frame). */
  outOfMemoryThread: number | null;
}

const SIZE_MODEL =
  'shallow size as HotSpot lays objects out: align(object header + reference fields x reference size + primitive field bytes, alignment) ' +
  'for instances (fields of the class and its superclasses, from CLASS DUMP records); align(array header + length x element size) for arrays; ' +
  'java.lang.Class: one per loaded class, sized as a Class instance plus its static fields. The dump does not record the JVM\'s flags: ' +
  'the figures assume compressed oops and compressed class pointers (any heap below 32 GiB) for 8-byte identifiers.';

/** Java's spelling of a JVM internal class name: java/lang/String -> java.lang.String, [[I -> int[][]. */
export function javaName(internal: string): string {
  let dims = 0;
  while (internal[dims] === '[') dims++;
  if (dims === 0) return internal.replace(/\//g, '.');
  const element = internal.slice(dims);
  const base = element.startsWith('L') && element.endsWith(';') ? element.slice(1, -1).replace(/\//g, '.') : PRIMITIVE_OF_DESCRIPTOR[element] ?? element;
  return base + '[]'.repeat(dims);
}

const PRIMITIVE_OF_DESCRIPTOR: Record<string, string> = { Z: 'boolean', C: 'char', F: 'float', D: 'double', B: 'byte', S: 'short', I: 'int', J: 'long' };

const LINE_KIND: Record<number, string> = { 0: 'no line info', [-1]: 'unknown', [-2]: 'compiled', [-3]: 'native' };

export function histogramOf(parser: HprofParser): HeapHistogram {
  const layout = parser.layout;
  const align = (n: number): number => Math.ceil(n / layout.alignment) * layout.alignment;
  const nameOf = (classId: number): string => {
    const name = parser.classNames.get(classId);
    return name === undefined ? `unknown class 0x${classId.toString(16)}` : javaName(name);
  };
  // Field bytes of a class including its superclasses, memoized (CLASS DUMPs come in any order).
  const fieldBytes = new Map<number, number | undefined>();
  const fieldsOf = (classId: number, depth = 0): number | undefined => {
    if (classId === 0) return 0;
    if (fieldBytes.has(classId)) return fieldBytes.get(classId);
    const dump = parser.classes.get(classId);
    const parent = dump && depth < 256 ? fieldsOf(dump.superId, depth + 1) : undefined;
    const total = dump && parent !== undefined ? parent + dump.ownReferences * layout.referenceSize + dump.ownPrimitiveBytes : undefined;
    fieldBytes.set(classId, total);
    return total;
  };
  const instanceSize = (classId: number, hprofFieldBytes: number): number => {
    // Without the class's layout (a truncated dump), the dump's own field bytes (8-byte ids) are the best bound.
    const fields = fieldsOf(classId) ?? hprofFieldBytes;
    return Math.max(align(layout.objectHeader + fields), align(layout.objectHeader + 1));
  };

  const entries: HistogramEntry[] = [];
  let instances = 0;
  let arrays = 0;
  for (const [classId, counts] of parser.instances) {
    entries.push({ name: nameOf(classId), instances: counts.count, bytes: counts.count * instanceSize(classId, counts.hprofFieldBytes), kind: 'instance' });
    instances += counts.count;
  }
  for (const [classId, counts] of parser.objectArrays) {
    entries.push({ name: nameOf(classId), instances: counts.count, bytes: counts.bytes, kind: 'object-array' });
    arrays += counts.count;
  }
  parser.primitiveArrays.forEach((counts, type) => {
    if (counts.count === 0) return;
    entries.push({ name: `${PRIMITIVE_NAMES[type]}[]`, instances: counts.count, bytes: counts.bytes, kind: 'primitive-array' });
    arrays += counts.count;
  });
  // Class mirrors: the dump has CLASS DUMP records instead of java.lang.Class instances.
  if (parser.classes.size > 0) {
    const classClass = [...parser.classNames].find(([, name]) => name === 'java/lang/Class')?.[0];
    const mirror = classClass === undefined ? layout.objectHeader : instanceSize(classClass, 0);
    let bytes = 0;
    for (const dump of parser.classes.values()) bytes += align(mirror + dump.staticBytes);
    const existing = entries.find((e) => e.name === 'java.lang.Class');
    if (existing) {
      existing.instances += parser.classes.size;
      existing.bytes += bytes;
    } else {
      entries.push({ name: 'java.lang.Class', instances: parser.classes.size, bytes, kind: 'class' });
    }
    instances += parser.classes.size;
  }
  entries.sort((a, b) => b.bytes - a.bytes || b.instances - a.instances || (a.name < b.name ? -1 : 1));

  const threads = threadsOf(parser);
  const thrower = threads.find((t) => t.threwOutOfMemoryError);
  return {
    schema: 1,
    complete: parser.complete,
    ...(parser.failure !== undefined ? { reason: parser.failure } : {}),
    format: { version: parser.version, identifierSize: parser.idSize, dumpedAt: parser.timestampMs > 0 ? new Date(parser.timestampMs).toISOString() : null },
    sizeModel: { ...layout, description: SIZE_MODEL },
    totals: {
      objects: instances + arrays,
      bytes: entries.reduce((sum, e) => sum + e.bytes, 0),
      instances,
      arrays,
      classes: parser.classes.size,
      entries: entries.length,
      gcRoots: Object.fromEntries([...parser.roots].sort((a, b) => b[1] - a[1])),
      bytesRead: parser.bytesRead,
      namesMissing: parser.namesDropped,
    },
    entries,
    threads,
    outOfMemoryThread: thrower?.serial ?? null,
  };
}

function threadsOf(parser: HprofParser): HeapThread[] {
  const objectOf = new Map(parser.threadRoots.map((r) => [r.threadSerial, r.objectId]));
  const threads: HeapThread[] = [];
  for (const trace of parser.traces.values()) {
    if (trace.threadSerial === 0) continue; // the empty trace HotSpot writes for allocation sites
    const frames = trace.frameIds.map((frameId): StackFrame => {
      const frame = parser.frames.get(frameId);
      if (!frame) return { method: `unknown frame 0x${frameId.toString(16)}`, signature: '', source: '', line: 'unknown' };
      const classId = parser.classSerials.get(frame.classSerial);
      const className = classId === undefined ? undefined : parser.classNames.get(classId);
      return {
        method: `${className === undefined ? 'unknown class' : javaName(className)}.${frame.method}`,
        signature: frame.signature,
        source: frame.source,
        line: frame.line > 0 ? frame.line : LINE_KIND[frame.line] ?? 'unknown',
      };
    });
    const objectId = objectOf.get(trace.threadSerial);
    threads.push({
      serial: trace.threadSerial,
      objectId: objectId === undefined ? null : `0x${objectId.toString(16)}`,
      frames,
      threwOutOfMemoryError: frames[0]?.method === 'java.lang.OutOfMemoryError.<init>',
    });
  }
  return threads.sort((a, b) => a.serial - b.serial);
}

/** The first `n` entries, for the report and the page. */
export function topEntries(histogram: HeapHistogram, n = 20): HistogramEntry[] {
  return histogram.entries.slice(0, n);
}
