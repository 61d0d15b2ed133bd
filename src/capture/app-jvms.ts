// The JVMs among the app's processes, found cheaply enough to look again every minute: the
// tree is walked through /proc/<pid>/task/<tid>/children (only the app's own files, not every
// process of the machine), a JVM's own children are not searched, and whether a pid is a JVM
// is read from its memory map once.
import { childrenOf, isJvm } from './process-tree.ts';

export class AppJvms {
  private readonly known = new Map<number, boolean>();

  constructor(private readonly root: number) {}

  async find(): Promise<number[]> {
    const jvms: number[] = [];
    const queue = [this.root];
    const seen = new Set<number>();
    while (queue.length > 0 && seen.size < 1000) {
      const pid = queue.shift()!;
      if (seen.has(pid)) continue;
      seen.add(pid);
      let jvm = this.known.get(pid);
      if (jvm === undefined) { jvm = await isJvm(pid); this.known.set(pid, jvm); }
      if (jvm) { jvms.push(pid); continue; }
      queue.push(...(await childrenOf(pid)));
    }
    for (const pid of this.known.keys()) if (!seen.has(pid)) this.known.delete(pid);
    return jvms;
  }
}
