// The processes below a pid, read from each thread's /proc/<pid>/task/<tid>/children (a
// child is listed under the thread that forked it): a few small reads, not a scan of all of
// /proc. Used by tests that find the helpers a watchdog started, and by the bench; and whether
// a process is still there.
import { readdir, readFile } from 'node:fs/promises';

/** Children of pid, theirs, and so on (at most `limit`). */
export async function processesBelow(pid: number, limit = 1000): Promise<number[]> {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && found.length < limit) {
    const parent = queue.shift()!;
    for (const tid of await readdir(`/proc/${parent}/task`).catch(() => [] as string[])) {
      const listed = await readFile(`/proc/${parent}/task/${tid}/children`, 'utf8').catch(() => '');
      for (const child of listed.split(' ').filter(Boolean).map(Number)) { found.push(child); queue.push(child); }
    }
  }
  return found;
}

/** Whether pid is still a process (a zombie not yet reaped counts as gone). */
export async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}
