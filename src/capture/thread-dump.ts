// A stop request (SIGTERM: cf stop, a failed health check, a redeploy) is the last moment a
// hung JVM can tell what it was doing: SIGQUIT makes HotSpot print every thread's stack to
// its stdout, which we pass through and keep. Only JVMs get SIGQUIT (it kills anything else).
import { jvmsIn } from './process-tree.ts';

export interface ThreadDumpCapture {
  jvms: number[];
  /** Resolves with the printed thread dumps (or '' when none came within the wait). */
  text: Promise<string>;
}

/**
 * @param root the app's pid
 * @param watchOutput subscribes to the app's output; returns an unsubscribe function
 */
export async function takeThreadDumps(root: number, watchOutput: (fn: (chunk: Buffer) => void) => () => void, waitMs = 1500): Promise<ThreadDumpCapture> {
  const jvms = await jvmsIn(root);
  if (jvms.length === 0) return { jvms, text: Promise.resolve('') };
  const chunks: Buffer[] = [];
  let seen = '';
  let done!: () => void;
  const finished = new Promise<void>((resolve) => { done = resolve; });
  const stop = watchOutput((chunk) => {
    chunks.push(chunk);
    seen = (seen + chunk.toString('latin1')).slice(-4096);
    // HotSpot ends a thread dump with the heap summary after "JNI global refs".
    if (/JNI global refs[^\n]*\n[\s\S]*\n\s*Metaspace\s+used/.test(seen)) done();
  });
  for (const pid of jvms) {
    try { process.kill(pid, 'SIGQUIT'); } catch { /* gone already */ }
  }
  const timer = setTimeout(done, waitMs);
  const text = finished.then(() => {
    clearTimeout(timer);
    stop();
    const all = Buffer.concat(chunks).toString('utf8');
    const start = all.indexOf('Full thread dump');
    return start >= 0 ? all.slice(start) : '';
  });
  return { jvms, text };
}
