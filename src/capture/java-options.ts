// JVM flags added through JAVA_TOOL_OPTIONS, which every HotSpot JVM reads by itself. We
// append to the user's value (never replace it), and only add flags every JVM in the
// droplet understands: an unknown -XX flag stops a JVM from starting.

export interface JavaOptionsInput {
  existing: string | undefined;
  heapDumpDir: string;
  /** gzip level for the JVM's own dump writer (JDK 17+); 0 = plain .hprof. */
  jvmGzipLevel: number;
  /** POSTMORTEM_NMT=summary: Native Memory Tracking, read at a memory pressure capture. */
  nativeMemoryTracking?: boolean;
}

export function javaToolOptions(input: JavaOptionsInput): string {
  if (/\s/.test(input.heapDumpDir)) throw new Error(`heap dump folder ${JSON.stringify(input.heapDumpDir)} contains whitespace; JAVA_TOOL_OPTIONS cannot quote it`);
  // The fatal error log (hs_err) goes to the same folder we watch, not the app's cwd.
  const ours = ['-XX:+HeapDumpOnOutOfMemoryError', `-XX:HeapDumpPath=${input.heapDumpDir}`, `-XX:ErrorFile=${input.heapDumpDir}/hs_err_pid%p.log`];
  if (input.jvmGzipLevel > 0) ours.push(`-XX:HeapDumpGzipLevel=${input.jvmGzipLevel}`);
  if (input.nativeMemoryTracking) ours.push('-XX:NativeMemoryTracking=summary');
  const existing = input.existing?.trim();
  return existing ? `${existing} ${ours.join(' ')}` : ours.join(' ');
}

/** Heap dump folders named by the user's own flags (their command line wins over ours). */
export function userHeapDumpPaths(...optionStrings: (string | undefined)[]): string[] {
  const found: string[] = [];
  for (const s of optionStrings) {
    if (!s) continue;
    for (const m of s.matchAll(/-XX:HeapDumpPath=("[^"]+"|'[^']+'|\S+)/g)) found.push(m[1]!.replace(/^["']|["']$/g, ''));
  }
  return found;
}
