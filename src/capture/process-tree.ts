// The app's process tree from /proc. The whole of /proc is read only when needed (a stop); the
// children files of the app's own processes are cheap enough for the memory check to repeat.
// The per-process reads are synchronous: /proc files are generated in memory, and a
// thread-pool hop would wake a worker thread for each (a wake-up is what costs CPU while idle).
import { readFileSync, readdirSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';

/** pid and every descendant of it. */
export async function processTree(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    if (!stat) continue;
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** The direct children of a process, from /proc/<pid>/task/<tid>/children: only its own files, never all of /proc. */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const tid of readOr(() => readdirSync(`/proc/${pid}/task`), [] as string[])) {
    const text = readOr(() => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8'), '');
    for (const child of text.split(' ')) if (child.trim()) children.push(Number(child));
  }
  return children;
}

/** A process may end between two reads: its files are then simply gone. */
function readOr<T>(read: () => T, gone: T): T {
  try {
    return read();
  } catch {
    return gone;
  }
}

/** pid and every descendant, walked through the children files (cheap enough to repeat while the app runs). */
export function descendantsOf(root: number, max = 1000): number[] {
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0 && tree.length < max) {
    const pid = queue.shift()!;
    if (tree.includes(pid)) continue;
    tree.push(pid);
    queue.push(...childrenOf(pid));
  }
  return tree;
}

/** A HotSpot JVM has libjvm.so mapped; checked before sending it SIGQUIT (which kills anything else). */
export function isJvm(pid: number): boolean {
  return readOr(() => readFileSync(`/proc/${pid}/maps`, 'utf8'), '').includes('/libjvm.so');
}

export async function jvmsIn(root: number): Promise<number[]> {
  const jvms: number[] = [];
  for (const pid of await processTree(root)) if (isJvm(pid)) jvms.push(pid);
  return jvms;
}
