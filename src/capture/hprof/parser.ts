// A streaming HPROF reader: fed the dump's bytes chunk by chunk (as they go to the store), it
// keeps counters and small tables only — class names, per-class counts, stack frames — never
// the object graph. Bodies it does not need (field values, array elements) are skipped without
// copying; an item cut by a chunk boundary is completed from a small carry buffer.
//
// Format (HotSpot's heapDumper.cpp writes it; the same since JDK 6, segments since JDK 6u):
//   header "JAVA PROFILE 1.0.x\0", u4 identifier size (4 or 8), u8 timestamp (ms)
//   records: u1 tag, u4 micros since the header, u4 body length, body
//   heap dump records (0x0C, or 0x1C segments ended by 0x2C) hold sub-records whose size is
//   only known by reading their headers, so each one is parsed in turn.
// It never throws into its caller: a malformed or truncated dump stops the parse and leaves a
// reason; whatever was counted until then is still there (complete: false).

/** Size in bytes of each HPROF basic type in a dump (index = type code; 2 = object: the id size). */
const TYPE_SIZE = [0, 0, -1, 0, 1, 2, 4, 8, 1, 2, 4, 8];
export const PRIMITIVE_NAMES = ['', '', '', '', 'boolean', 'char', 'float', 'double', 'byte', 'short', 'int', 'long'];

/** How big objects are in the JVM's heap, to compare shallow bytes with its class histogram. */
export interface HeapLayout {
  /** Object header: mark word + class pointer. */
  objectHeader: number;
  /** Array header: object header + the u4 length, aligned as HotSpot aligns element 0. */
  arrayHeader: number;
  /** A reference field or array element. */
  referenceSize: number;
  /** Objects are aligned to this many bytes (-XX:ObjectAlignmentInBytes, default 8). */
  alignment: number;
}

/**
 * HotSpot's defaults: 64-bit with compressed oops and compressed class pointers (any heap below
 * 32 GiB): header 12, array header 16, references 4, 8-byte alignment. A 32-bit JVM (id size 4):
 * header 8, array header 12. The dump does not say which flags the JVM ran with.
 */
export function defaultLayout(idSize: number): HeapLayout {
  return idSize === 4
    ? { objectHeader: 8, arrayHeader: 12, referenceSize: 4, alignment: 8 }
    : { objectHeader: 12, arrayHeader: 16, referenceSize: 4, alignment: 8 };
}

export const ROOT_KINDS: Record<number, string> = {
  0xff: 'unknown', 0x01: 'jni-global', 0x02: 'jni-local', 0x03: 'java-frame', 0x04: 'native-stack',
  0x05: 'sticky-class', 0x06: 'thread-block', 0x07: 'monitor-used', 0x08: 'thread-object',
};

export interface ClassDump {
  superId: number;
  /** Reference fields declared by this class (not inherited). */
  ownReferences: number;
  /** Bytes of primitive fields declared by this class. */
  ownPrimitiveBytes: number;
  /** Bytes of its static fields (references at the layout's size), for the java.lang.Class mirror. */
  staticBytes: number;
}

export interface InstanceCount { count: number; hprofFieldBytes: number }
export interface ArrayCount { count: number; bytes: number }
export interface Frame { method: string; signature: string; source: string; classSerial: number; line: number }
export interface Trace { threadSerial: number; frameIds: number[] }
export interface ThreadRoot { objectId: number; threadSerial: number; traceSerial: number }

const NEED = -1;
/** A UTF8 record longer than this is no class, method or file name: skipped. */
const MAX_NAME_BYTES = 1024;
/** A stack trace record bigger than this is skipped (HotSpot caps depth at 1024 frames). */
const MAX_TRACE_BYTES = 1024 * 1024;
/** An item that needs more contiguous bytes than this is not an HPROF item: the dump is malformed. */
const MAX_CARRY_BYTES = 64 * 1024 * 1024;
/** Stack frames kept (HotSpot writes one per frame of every thread, no sharing); more are counted as missing. */
const MAX_FRAMES = 100_000;
/** Estimated memory of the name table (string bytes + per-entry overhead); past it, names are dropped. */
export const DEFAULT_NAME_BUDGET = 32 * 1024 * 1024;
/** V8's cost of one entry beyond the string's bytes (map slot, string header), measured roughly. */
const ENTRY_OVERHEAD = 48;

export interface ParserOptions {
  /** Layout for the id size found in the header; default defaultLayout(). */
  layout?: (idSize: number) => HeapLayout;
  nameBudgetBytes?: number;
}

export class HprofParser {
  // --- what the dump says ---
  version = '';
  idSize = 0;
  timestampMs = 0;
  layout: HeapLayout = defaultLayout(8);
  readonly classNames = new Map<number, string>(); // class object id -> internal name
  readonly classSerials = new Map<number, number>(); // class serial -> class object id
  readonly classes = new Map<number, ClassDump>();
  readonly instances = new Map<number, InstanceCount>(); // class object id -> counts
  readonly objectArrays = new Map<number, ArrayCount>(); // array class id -> counts
  readonly primitiveArrays: ArrayCount[] = TYPE_SIZE.map(() => ({ count: 0, bytes: 0 }));
  readonly roots = new Map<string, number>();
  readonly frames = new Map<number, Frame>();
  readonly traces = new Map<number, Trace>();
  readonly threadRoots: ThreadRoot[] = [];
  heapRecords = 0;
  segmented = false;
  heapEnded = false;
  /** Names we could not keep (budget) or resolve: reported, never guessed. */
  namesDropped = 0;
  /** Bytes fed so far. */
  bytesRead = 0;
  /** Why the parse stopped early, if it did. */
  failure: string | undefined;

  // --- the state machine ---
  #headerDone = false;
  #segmentLeft = 0;
  #skip = 0;
  #carry: Buffer | undefined;
  #names = new Map<number, string>();
  #nameBytes = 0;
  readonly #layoutFor: (idSize: number) => HeapLayout;
  readonly #nameBudget: number;
  // the last class an instance belonged to: objects of one class often come in runs
  #lastClassId = -1;
  #lastCount: InstanceCount | undefined;

  constructor(options: ParserOptions = {}) {
    this.#layoutFor = options.layout ?? defaultLayout;
    this.#nameBudget = options.nameBudgetBytes ?? DEFAULT_NAME_BUDGET;
  }

  /** Feeds the next bytes of the dump. Never throws. */
  push(chunk: Buffer): void {
    if (this.failure === undefined) {
      try {
        this.#feed(chunk);
      } catch (error) {
        this.#fail(`parser error near byte ${this.bytesRead}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    this.bytesRead += chunk.length;
  }

  /** The source has ended: says whether the whole dump was read. Never throws. */
  end(): void {
    if (this.failure !== undefined) return;
    if (!this.#headerDone) this.#fail(`not an HPROF heap dump or cut before its header (${this.bytesRead} bytes)`);
    else if (this.#carry || this.#skip > 0 || this.#segmentLeft > 0) this.#fail(`the dump is cut inside a record at byte ${this.bytesRead} (truncated)`);
    else if (this.heapRecords === 0) this.#fail(`the dump has no heap records (${this.bytesRead} bytes read; truncated?)`);
    else if (this.segmented && !this.heapEnded) this.#fail(`the dump ends after ${this.bytesRead} bytes without its HEAP DUMP END record (truncated)`);
  }

  get complete(): boolean {
    return this.failure === undefined;
  }

  #fail(reason: string): void {
    this.failure ??= reason;
    this.#carry = undefined;
  }

  #feed(chunk: Buffer): void {
    const end = chunk.length;
    let pos = 0;
    if (this.#carry) {
      // Complete the cut item from the head of this chunk: take a little, more only if needed.
      const carry = this.#carry;
      let want = Math.max(256, carry.length);
      for (;;) {
        const take = Math.min(end, want);
        const joined = Buffer.concat([carry, chunk.subarray(0, take)]);
        const next = this.#step(joined, 0, joined.length);
        if (this.failure !== undefined) return;
        if (next !== NEED) {
          pos = next - carry.length;
          this.#carry = undefined;
          break;
        }
        if (take === end) {
          if (joined.length > MAX_CARRY_BYTES) this.#fail(`an item at byte ${this.bytesRead - carry.length} needs more than ${MAX_CARRY_BYTES} bytes: not an HPROF item`);
          else this.#carry = joined;
          return;
        }
        want *= 4;
      }
    }
    while (pos < end) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, end - pos);
        this.#skip -= n;
        pos += n;
        continue;
      }
      if (this.#segmentLeft > 0) {
        const after = this.#objects(chunk, pos, end);
        if (after !== pos) {
          pos = after;
          continue;
        }
      }
      const next = this.#step(chunk, pos, end);
      if (this.failure !== undefined) return;
      if (next === NEED) {
        this.#carry = Buffer.from(chunk.subarray(pos)); // a copy: the producer may reuse its buffer
        return;
      }
      pos = next;
    }
  }

  /**
   * The hot loop: runs of instance and array dumps (nearly all of a heap's bytes), counted with
   * locals and no call per object. Stops at anything else, or at an object whose header is cut
   * by the chunk's end, and leaves it to #step. An object body cut by the chunk's end is skipped.
   */
  #objects(b: Buffer, p: number, end: number): number {
    const id = this.idSize;
    const wide = id === 8;
    const { arrayHeader, referenceSize, alignment } = this.layout;
    let left = this.#segmentLeft;
    let lastId = this.#lastClassId;
    let last = this.#lastCount;
    while (p < end && left > 0) {
      const tag = b[p];
      let size: number;
      if (tag === 0x21) { // INSTANCE DUMP: id, u4, id class, u4 n, n bytes
        const head = 9 + 2 * id;
        if (end - p < head) break;
        const at = p + 5 + id;
        const classId = wide ? b.readUInt32BE(at) * 0x1_0000_0000 + b.readUInt32BE(at + 4) : b.readUInt32BE(at);
        const fieldBytes = b.readUInt32BE(at + id);
        size = head + fieldBytes;
        if (size > left) break;
        if (classId !== lastId || last === undefined) {
          last = this.instances.get(classId);
          if (last === undefined) this.instances.set(classId, (last = { count: 0, hprofFieldBytes: fieldBytes }));
          lastId = classId;
        }
        last.count++;
      } else if (tag === 0x23) { // PRIMITIVE ARRAY DUMP: id, u4, u4 length, u1 type, elements
        const head = 10 + id;
        if (end - p < head) break;
        const length = b.readUInt32BE(p + 5 + id);
        const type = b[p + 9 + id]!;
        const elementSize = TYPE_SIZE[type] ?? -1;
        if (elementSize <= 0) break;
        size = head + length * elementSize;
        if (size > left) break;
        const counts = this.primitiveArrays[type]!;
        counts.count++;
        counts.bytes += Math.ceil((arrayHeader + length * elementSize) / alignment) * alignment;
      } else if (tag === 0x22) { // OBJECT ARRAY DUMP: id, u4, u4 length, id class, ids
        const head = 9 + 2 * id;
        if (end - p < head) break;
        const length = b.readUInt32BE(p + 5 + id);
        const at = p + 9 + id;
        const classId = wide ? b.readUInt32BE(at) * 0x1_0000_0000 + b.readUInt32BE(at + 4) : b.readUInt32BE(at);
        size = head + length * id;
        if (size > left) break;
        let counts = this.objectArrays.get(classId);
        if (counts === undefined) this.objectArrays.set(classId, (counts = { count: 0, bytes: 0 }));
        counts.count++;
        counts.bytes += Math.ceil((arrayHeader + length * referenceSize) / alignment) * alignment;
      } else {
        break;
      }
      left -= size;
      if (end - p >= size) {
        p += size;
      } else {
        this.#skip = size - (end - p);
        p = end;
      }
    }
    this.#segmentLeft = left;
    this.#lastClassId = lastId;
    this.#lastCount = last;
    return p;
  }

  #id(b: Buffer, p: number): number {
    return this.idSize === 8 ? b.readUInt32BE(p) * 0x1_0000_0000 + b.readUInt32BE(p + 4) : b.readUInt32BE(p);
  }

  /** Parses one item at p; returns the position after what it consumed, or NEED. Mutates state only on success. */
  #step(b: Buffer, p: number, end: number): number {
    if (this.#segmentLeft > 0) return this.#heapItem(b, p, end);
    if (!this.#headerDone) return this.#header(b, p, end);
    if (end - p < 9) return NEED;
    const tag = b[p]!;
    const length = b.readUInt32BE(p + 5);
    const body = p + 9;
    const id = this.idSize;
    switch (tag) {
      case 0x0c:
      case 0x1c:
        this.heapRecords++;
        if (tag === 0x1c) this.segmented = true;
        this.#segmentLeft = length;
        // Names are resolved when classes and frames are read, which HotSpot writes before the heap.
        this.#names.clear();
        this.#nameBytes = 0;
        return body;
      case 0x2c:
        this.heapEnded = true;
        this.#skip = length;
        return body;
      case 0x01: // UTF8: id, bytes
        if (length < id) return this.#malformed('UTF8', p);
        if (length - id > MAX_NAME_BYTES) break;
        if (end - body < length) return NEED;
        // Symbols with a space are text of string constants, never a class, method or file name.
        if (!b.subarray(body + id, body + length).includes(0x20)) this.#keepName(this.#id(b, body), b.toString('utf8', body + id, body + length));
        return body + length;
      case 0x02: // LOAD CLASS: u4 serial, id class, u4 stack serial, id name
        if (length < 8 + 2 * id) return this.#malformed('LOAD CLASS', p);
        if (end - body < length) return NEED;
        {
          const classId = this.#id(b, body + 4);
          const name = this.#names.get(this.#id(b, body + 8 + id));
          this.classSerials.set(b.readUInt32BE(body), classId);
          if (name === undefined) this.namesDropped++;
          else this.classNames.set(classId, name);
        }
        return body + length;
      case 0x04: // STACK FRAME: id frame, id method, id signature, id source, u4 class serial, i4 line
        if (length < 4 * id + 8) return this.#malformed('STACK FRAME', p);
        if (end - body < length) return NEED;
        if (this.frames.size >= MAX_FRAMES) {
          this.namesDropped++;
          return body + length;
        }
        this.frames.set(this.#id(b, body), {
          method: this.#name(this.#id(b, body + id)),
          signature: this.#name(this.#id(b, body + 2 * id)),
          source: this.#name(this.#id(b, body + 3 * id)),
          classSerial: b.readUInt32BE(body + 4 * id),
          line: b.readInt32BE(body + 4 * id + 4),
        });
        return body + length;
      case 0x05: // STACK TRACE: u4 serial, u4 thread serial, u4 count, ids
        if (length < 12) return this.#malformed('STACK TRACE', p);
        if (length > MAX_TRACE_BYTES) break;
        if (end - body < length) return NEED;
        {
          const count = Math.min(b.readUInt32BE(body + 8), Math.floor((length - 12) / id));
          const frameIds: number[] = [];
          for (let i = 0; i < count; i++) frameIds.push(this.#id(b, body + 12 + i * id));
          this.traces.set(b.readUInt32BE(body), { threadSerial: b.readUInt32BE(body + 4), frameIds });
        }
        return body + length;
      default:
        break;
    }
    this.#skip = length;
    return body;
  }

  #header(b: Buffer, p: number, end: number): number {
    const nul = b.indexOf(0, p);
    if (nul < 0 || nul - p > 64) {
      if (end - p > 64 || (end - p >= 13 && b.toString('latin1', p, p + 13) !== 'JAVA PROFILE ')) this.#fail('not an HPROF heap dump (no "JAVA PROFILE" header)');
      return NEED;
    }
    if (end - nul < 13) return NEED;
    const version = b.toString('latin1', p, nul);
    if (!version.startsWith('JAVA PROFILE ')) {
      this.#fail(`not an HPROF heap dump (header "${version.slice(0, 32)}")`);
      return NEED;
    }
    const idSize = b.readUInt32BE(nul + 1);
    if (idSize !== 4 && idSize !== 8) {
      this.#fail(`unsupported identifier size ${idSize} in the HPROF header (4 or 8 expected)`);
      return NEED;
    }
    this.version = version;
    this.idSize = idSize;
    this.layout = this.#layoutFor(idSize);
    this.timestampMs = b.readUInt32BE(nul + 5) * 0x1_0000_0000 + b.readUInt32BE(nul + 9);
    this.#headerDone = true;
    return nul + 13;
  }

  #keepName(id: number, name: string): void {
    const cost = name.length + ENTRY_OVERHEAD;
    if (this.#nameBytes + cost > this.#nameBudget) {
      this.namesDropped++;
      return;
    }
    this.#nameBytes += cost;
    this.#names.set(id, name);
  }

  #name(id: number): string {
    if (id === 0) return '';
    const name = this.#names.get(id);
    if (name === undefined) this.namesDropped++;
    return name ?? '';
  }

  #malformed(what: string, p: number): number {
    this.#fail(`malformed ${what} record (too short) in the dump`);
    void p;
    return NEED;
  }

  /** Accounts a sub-record of `size` bytes whose first `parsed` bytes were read; the rest is skipped. */
  #consume(p: number, parsed: number, size: number): number {
    if (size > this.#segmentLeft) {
      this.#fail(`a heap sub-record of ${size} bytes crosses the end of its heap dump record (${this.#segmentLeft} bytes left): malformed dump`);
      return NEED;
    }
    this.#segmentLeft -= size;
    this.#skip = size - parsed;
    return p + parsed;
  }

  #root(kind: number, size: number, b: Buffer, p: number, end: number): number {
    if (end - p < size) return NEED;
    const name = ROOT_KINDS[kind]!;
    this.roots.set(name, (this.roots.get(name) ?? 0) + 1);
    if (kind === 0x08) {
      const id = this.idSize;
      this.threadRoots.push({ objectId: this.#id(b, p + 1), threadSerial: b.readUInt32BE(p + 1 + id), traceSerial: b.readUInt32BE(p + 5 + id) });
    }
    return this.#consume(p, size, size);
  }

  #heapItem(b: Buffer, p: number, end: number): number {
    const id = this.idSize;
    const tag = b[p]!;
    switch (tag) {
      case 0x21: { // INSTANCE DUMP: id, u4 stack serial, id class, u4 field bytes, field bytes
        const head = 1 + 2 * id + 8;
        if (end - p < head) return NEED;
        const classId = this.#id(b, p + 5 + id);
        const fieldBytes = b.readUInt32BE(p + 5 + 2 * id);
        let counts = classId === this.#lastClassId ? this.#lastCount : this.instances.get(classId);
        if (counts === undefined) {
          counts = { count: 0, hprofFieldBytes: fieldBytes };
          this.instances.set(classId, counts);
        }
        this.#lastClassId = classId;
        this.#lastCount = counts;
        const next = this.#consume(p, head, head + fieldBytes);
        if (next !== NEED) counts.count++;
        return next;
      }
      case 0x23: { // PRIMITIVE ARRAY DUMP: id, u4 stack serial, u4 length, u1 type, elements
        const head = 1 + id + 9;
        if (end - p < head) return NEED;
        const length = b.readUInt32BE(p + 5 + id);
        const type = b[p + 9 + id]!;
        const elementSize = TYPE_SIZE[type] ?? -1;
        if (elementSize <= 0) {
          this.#fail(`primitive array of unknown element type ${type} in the dump: malformed`);
          return NEED;
        }
        const next = this.#consume(p, head, head + length * elementSize);
        if (next !== NEED) {
          const counts = this.primitiveArrays[type]!;
          counts.count++;
          counts.bytes += this.#align(this.layout.arrayHeader + length * elementSize);
        }
        return next;
      }
      case 0x22: { // OBJECT ARRAY DUMP: id, u4 stack serial, u4 length, id array class, ids
        const head = 1 + 2 * id + 8;
        if (end - p < head) return NEED;
        const length = b.readUInt32BE(p + 5 + id);
        const classId = this.#id(b, p + 9 + id);
        const next = this.#consume(p, head, head + length * id);
        if (next !== NEED) {
          let counts = this.objectArrays.get(classId);
          if (counts === undefined) this.objectArrays.set(classId, (counts = { count: 0, bytes: 0 }));
          counts.count++;
          counts.bytes += this.#align(this.layout.arrayHeader + length * this.layout.referenceSize);
        }
        return next;
      }
      case 0x20:
        return this.#classDump(b, p, end);
      case 0xff: case 0x05: case 0x07:
        return this.#root(tag, 1 + id, b, p, end);
      case 0x01:
        return this.#root(tag, 1 + 2 * id, b, p, end);
      case 0x02: case 0x03: case 0x08:
        return this.#root(tag, 1 + id + 8, b, p, end);
      case 0x04: case 0x06:
        return this.#root(tag, 1 + id + 4, b, p, end);
      default:
        this.#fail(`unknown heap sub-record tag 0x${tag.toString(16)} near byte ${this.bytesRead}: malformed dump (or a format this parser does not know)`);
        return NEED;
    }
  }

  /** CLASS DUMP: variable length (constant pool, statics, field list), read in full. */
  #classDump(b: Buffer, p: number, end: number): number {
    const id = this.idSize;
    let q = p + 1 + 7 * id + 8;
    if (end - q < 2) return NEED;
    const classId = this.#id(b, p + 1);
    const superId = this.#id(b, p + 5 + id);
    const sizeOf = (type: number): number => (type === 2 ? id : TYPE_SIZE[type] ?? -1);
    const poolCount = b.readUInt16BE(q);
    q += 2;
    for (let i = 0; i < poolCount; i++) {
      if (end - q < 3) return NEED;
      const size = sizeOf(b[q + 2]!);
      if (size <= 0) return this.#badType(b[q + 2]!);
      q += 3 + size;
    }
    if (end - q < 2) return NEED;
    const staticCount = b.readUInt16BE(q);
    q += 2;
    let staticBytes = 0;
    for (let i = 0; i < staticCount; i++) {
      if (end - q < id + 1) return NEED;
      const type = b[q + id]!;
      const size = sizeOf(type);
      if (size <= 0) return this.#badType(type);
      staticBytes += type === 2 ? this.layout.referenceSize : size;
      q += id + 1 + size;
    }
    if (end - q < 2) return NEED;
    const fieldCount = b.readUInt16BE(q);
    q += 2;
    if (end - q < fieldCount * (id + 1)) return NEED;
    let ownReferences = 0;
    let ownPrimitiveBytes = 0;
    for (let i = 0; i < fieldCount; i++) {
      const type = b[q + id]!;
      if (type === 2) ownReferences++;
      else if (sizeOf(type) > 0) ownPrimitiveBytes += sizeOf(type);
      else return this.#badType(type);
      q += id + 1;
    }
    const next = this.#consume(p, q - p, q - p);
    if (next !== NEED) this.classes.set(classId, { superId, ownReferences, ownPrimitiveBytes, staticBytes });
    return next;
  }

  #badType(type: number): number {
    this.#fail(`unknown basic type ${type} in a CLASS DUMP record: malformed dump`);
    return NEED;
  }

  #align(bytes: number): number {
    const a = this.layout.alignment;
    return Math.ceil(bytes / a) * a;
  }
}
