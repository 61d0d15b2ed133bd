// A real cgroup v1 memory limit for a test (root on the development and CI machines:
// PLATFORM.md, "Containers' memory limits"). The cgroup is removed on every path: its
// processes are killed first, then the folder goes. Where none can be made, the test is
// skipped with the reason, except in CI (CI=true), where that is a failure.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Test } from 'tap';
import { isCi } from './rgw/for-tests.ts';

export const MEMORY_CGROUP_ROOT = '/sys/fs/cgroup/memory';

export interface MemoryLimit {
  dir: string;
  /** Moves a process (and so every child it starts afterwards) into the cgroup. */
  add(pid: number): Promise<void>;
}

/**
 * Why no memory cgroup can be made here, or undefined when one can. Outside CI a test passes
 * this as its `skip` option; in CI (CI=true) it is a failure: CI must not skip silently.
 */
export async function memoryCgroupUnavailable(t: Test): Promise<string | undefined> {
  const probe = path.join(MEMORY_CGROUP_ROOT, `postmortem-probe-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(probe);
    await rmdir(probe);
    return undefined;
  } catch (error) {
    const reason = `cannot create a memory cgroup under ${MEMORY_CGROUP_ROOT} (${(error as NodeJS.ErrnoException).code ?? String(error)}): needs root and the cgroup v1 memory controller`;
    if (isCi(process.env)) t.fail(`CI=true: ${reason}`);
    return reason;
  }
}

/** A fresh child cgroup with the limit, removed when the test ends. */
export async function memoryLimit(t: Test, limitBytes: number): Promise<MemoryLimit> {
  const dir = path.join(MEMORY_CGROUP_ROOT, `postmortem-test-${randomBytes(4).toString('hex')}`);
  await mkdir(dir);
  t.teardown(() => removeCgroup(dir));
  await writeFile(path.join(dir, 'memory.limit_in_bytes'), String(limitBytes));
  return { dir, add: (pid) => writeFile(path.join(dir, 'cgroup.procs'), String(pid)) };
}

async function removeCgroup(dir: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const pids = (await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    try {
      await rmdir(dir);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100)); // the killed processes are still exiting
    }
  }
}
