// Which memory ran out, from the JVM's own words after "java.lang.OutOfMemoryError: ".
// Each kind is bounded by a different setting, so the hint names that setting: raising -Xmx
// does nothing for a Metaspace or a native-thread death.

export type OomKindId =
  | 'java-heap'
  | 'metaspace'
  | 'compressed-class-space'
  | 'native-thread'
  | 'direct-buffer'
  | 'gc-overhead'
  | 'array-size'
  | 'other';

export interface OomKind {
  kind: OomKindId;
  /** The JVM's message, as printed (bounded). */
  message: string;
  /** What ran out, in words. */
  what: string;
  /** One line: the setting that bounds it and what to look at. */
  hint: string;
}

interface KindRule { kind: Exclude<OomKindId, 'other'>; pattern: RegExp; what: string; hint: string }

const RULES: readonly KindRule[] = [
  { kind: 'java-heap', pattern: /^Java heap space/i, what: 'Java heap',
    hint: 'the heap is bounded by -Xmx; the heap dump shows what filled it' },
  { kind: 'gc-overhead', pattern: /^GC overhead limit exceeded/i, what: 'Java heap (GC overhead limit exceeded)',
    hint: 'the live data nearly fills the heap (-Xmx) and the JVM spent most of its time collecting; the heap dump shows what is live' },
  { kind: 'metaspace', pattern: /^Metaspace/i, what: 'Metaspace',
    hint: 'class metadata is bounded by -XX:MaxMetaspaceSize; look for class loader leaks (redeploys, generated proxies)' },
  { kind: 'compressed-class-space', pattern: /^Compressed class space/i, what: 'compressed class space',
    hint: 'bounded by -XX:CompressedClassSpaceSize (default 1 GiB); too many classes loaded' },
  { kind: 'native-thread', pattern: /unable to create (new )?native thread/i, what: 'native threads',
    hint: 'each thread needs a stack (-Xss) and counts against the process limit (pids cgroup, ulimit -u); look at the thread count in a thread dump' },
  { kind: 'direct-buffer', pattern: /direct buffer memory/i, what: 'direct buffer memory',
    hint: 'direct ByteBuffers are bounded by -XX:MaxDirectMemorySize (default: the heap size); look for unreleased buffers (NIO, Netty)' },
  { kind: 'array-size', pattern: /^Requested array size exceeds VM limit/i, what: 'array size',
    hint: 'one array was asked for larger than the VM allows (near 2^31 elements): a bug in the code that sized it, not a memory setting' },
];

const MAX_MESSAGE = 300;

/** The kind of an OutOfMemoryError from its message (the text after "OutOfMemoryError: "). */
export function oomKindOf(message: string | undefined): OomKind {
  const text = (message ?? '').trim().slice(0, MAX_MESSAGE);
  const rule = RULES.find((r) => r.pattern.test(text));
  if (rule) return { kind: rule.kind, message: text, what: rule.what, hint: rule.hint };
  return {
    kind: 'other',
    message: text,
    what: text ? `memory (${text})` : message === undefined ? 'memory (a heap dump appeared; the JVM\'s message was not seen)' : 'memory (the JVM gave no detail)',
    hint: 'the message names the exhausted resource; the heap dump, if any, shows the heap',
  };
}

/** The message of the first "java.lang.OutOfMemoryError[: message]" in a line, or undefined. */
export function oomMessageIn(line: string): string | undefined {
  const m = /java\.lang\.OutOfMemoryError(?::\s*(.*))?/.exec(line);
  if (!m) return undefined;
  return (m[1] ?? '').trim().slice(0, MAX_MESSAGE);
}
