// Who gzips a heap dump. The JVM's own gzip (JDK 17+ -XX:HeapDumpGzipLevel) is single-threaded
// and is the whole crash's critical path (1.32 GiB: 10.3 s gzip vs 2.05 s plain), so by default
// the JVM writes the dump plain and the watchdog compresses it while following the file, punching
// out what it has read (growing-file.ts). A plain dump needs up to the heap's size on disk while
// it is written, though; when the free disk cannot hold that, the JVM-gzip path (a third of it)
// still wins.
import type { DumpCompression } from '../config/types.ts';
import { formatBytes } from '../config/units.ts';

export interface DumpStrategyInput {
  /** POSTMORTEM_DUMP_COMPRESSION. */
  setting: DumpCompression;
  /** POSTMORTEM_GZIP_LEVEL; 0 = nobody compresses. */
  gzipLevel: number;
  /** Major versions of every JVM in the droplet (HeapDumpGzipLevel exists from 17). */
  javaMajors: number[];
  /** Largest heap a dump can hold (-Xmx, else the memory limit); undefined = unknown. */
  heapLimit: number | undefined;
  /** Free disk in the dump folder; undefined = unknown. */
  freeDisk: number | undefined;
}

export interface DumpStrategy {
  /** -XX:HeapDumpGzipLevel for JAVA_TOOL_OPTIONS; 0 = the JVM writes a plain .hprof. */
  jvmGzipLevel: number;
  /**
   * The JVM writes the dump plain and strictly front to back (JDK 17+ fills in each segment's
   * length in memory; older JDKs seek back to patch it), so what was read may be punched out.
   */
  mayPunch: boolean;
  /** One log line: the choice and the figures behind it. */
  line: string;
}

/**
 * A plain HPROF is larger than the heap it describes (8-byte object ids for 4-byte compressed
 * references, record headers): the bench's -Xmx1g heap of small objects dumps to 1.32 GiB.
 */
export const PLAIN_DUMP_PER_HEAP = 1.4;

const WATCHDOG = 'written plain by the JVM and compressed by the watchdog';
const JVM = 'compressed by the JVM as it writes them';

export function chooseDumpStrategy(input: DumpStrategyInput): DumpStrategy {
  const { setting, gzipLevel, javaMajors, heapLimit, freeDisk } = input;
  const plainNeeds = heapLimit === undefined ? undefined : Math.ceil(heapLimit * PLAIN_DUMP_PER_HEAP);
  const figures = `free disk ${freeDisk === undefined ? 'unknown' : formatBytes(freeDisk)}, heap up to ${heapLimit === undefined ? 'unknown' : `${formatBytes(heapLimit)}, a plain dump up to ${formatBytes(plainNeeds!)}`}`;
  const jvmCanGzip = javaMajors.length > 0 && javaMajors.every((m) => m >= 17);
  const sequential = jvmCanGzip; // JDK 17+ buffers each dump segment: the file is written front to back
  if (gzipLevel === 0) {
    return { jvmGzipLevel: 0, mayPunch: sequential, line: `heap dumps: written plain by the JVM and stored uncompressed (POSTMORTEM_GZIP_LEVEL=0; ${figures})` };
  }
  const watchdog = (why: string): DumpStrategy => ({ jvmGzipLevel: 0, mayPunch: sequential, line: `heap dumps: ${WATCHDOG} (${why}${figures})` });
  const jvm = (why: string): DumpStrategy => ({ jvmGzipLevel: gzipLevel, mayPunch: false, line: `heap dumps: ${JVM} (${why}${figures})` });
  if (!jvmCanGzip) {
    const why = javaMajors.length === 0 ? 'no JVM version found' : `JDK ${Math.min(...javaMajors)} has no HeapDumpGzipLevel`;
    return watchdog(`${why}${setting === 'jvm' ? ', so POSTMORTEM_DUMP_COMPRESSION=jvm cannot apply' : ''}; `);
  }
  if (setting === 'jvm') return jvm('POSTMORTEM_DUMP_COMPRESSION=jvm; ');
  if (setting === 'watchdog') return watchdog('POSTMORTEM_DUMP_COMPRESSION=watchdog; ');
  if (plainNeeds !== undefined && freeDisk !== undefined && freeDisk < plainNeeds) {
    return jvm('the free disk cannot hold a plain dump of the whole heap; ');
  }
  return watchdog('');
}

/** The heap limit the JVM will run with: its last -Xmx / -XX:MaxHeapSize (bytes, k, m, g, t), if any. */
export function maxHeapOption(...optionStrings: (string | undefined)[]): number | undefined {
  let found: number | undefined;
  const unit: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  for (const s of optionStrings) {
    for (const m of (s ?? '').matchAll(/(?:^|\s|["'])-(?:Xmx|XX:MaxHeapSize=)(\d+)([kmgt]?)(?=$|\s|["'])/gi)) {
      const bytes = Number(m[1]) * unit[m[2]!.toLowerCase()]!;
      if (Number.isSafeInteger(bytes) && bytes > 0) found = bytes;
    }
  }
  return found;
}
