// The app's process tree from /proc, read only when needed (a stop), never polled.
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

/** A HotSpot JVM has libjvm.so mapped; checked before sending it SIGQUIT (which kills anything else). */
export async function isJvm(pid: number): Promise<boolean> {
  const maps = await readFile(`/proc/${pid}/maps`, 'utf8').catch(() => '');
  return maps.includes('/libjvm.so');
}

export async function jvmsIn(root: number): Promise<number[]> {
  const jvms: number[] = [];
  for (const pid of await processTree(root)) if (await isJvm(pid)) jvms.push(pid);
  return jvms;
}
