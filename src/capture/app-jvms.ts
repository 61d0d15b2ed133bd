// The JVMs among the app's processes, found cheaply enough to look again while the app runs:
// the tree is walked through /proc/<pid>/task/<tid>/children (only the app's own files, not
// every process of the machine), a JVM's own children are not searched, and whether a pid is a
// JVM is read from its memory map once (a pid that was not a JVM yet, e.g. a shell that then
// execs java, is read again).
import { childrenOf, isJvm } from './process-tree.ts';

export class AppJvms {
  private readonly known = new Set<number>();

  constructor(private readonly root: number) {}

  find(): number[] {
    const jvms: number[] = [];
    const queue = [this.root];
    const seen = new Set<number>();
    while (queue.length > 0 && seen.size < 1000) {
      const pid = queue.shift()!;
      if (seen.has(pid)) continue;
      seen.add(pid);
      if (this.known.has(pid) || isJvm(pid)) {
        this.known.add(pid);
        jvms.push(pid);
        continue;
      }
      queue.push(...childrenOf(pid));
    }
    for (const pid of this.known) if (!seen.has(pid)) this.known.delete(pid);
    return jvms;
  }
}
