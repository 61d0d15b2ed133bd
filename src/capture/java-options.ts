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

/** Heap dump paths (folders or files) named by the user's own flags (their command line wins over ours). */
export function userHeapDumpPaths(...optionStrings: (string | undefined)[]): string[] {
  return optionValues('HeapDumpPath', optionStrings);
}

/** The user's own -XX:HeapDumpGzipLevel (the last one wins, as in the JVM), if any. */
export function userHeapDumpGzipLevel(...optionStrings: (string | undefined)[]): number | undefined {
  const last = optionValues('HeapDumpGzipLevel', optionStrings).at(-1);
  return last !== undefined && /^\d$/.test(last) ? Number(last) : undefined;
}

function optionValues(flag: string, optionStrings: (string | undefined)[]): string[] {
  const found: string[] = [];
  const pattern = new RegExp(`-XX:${flag}=("[^"]+"|'[^']+'|\\S+)`, 'g');
  for (const s of optionStrings) {
    if (!s) continue;
    for (const m of s.matchAll(pattern)) found.push(m[1]!.replace(/^["']|["']$/g, ''));
  }
  return found;
}
