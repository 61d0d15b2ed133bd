// Real cgroups for tests (cgroup v1, as on the development and CI machines, PLATFORM.md):
// a memory cgroup as small as a container, or a pids cgroup, created fresh and removed on
// every path. Where the machine has none we can write, the test says why and skips; with
// CI=true that is a failure, never a silent skip.
import { mkdir, readFile, rmdir, writeFile, access } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Test } from 'tap';
import { skipOrFailInCi } from './requirements.ts';

const ROOTS = { memory: '/sys/fs/cgroup/memory', pids: '/sys/fs/cgroup/pids' } as const;

export interface TestCgroup {
  dir: string;
  /** The file a process writes its pid to, to move itself in. */
  procs: string;
  read(name: string): Promise<string>;
}

/** Why this machine cannot give a test a writable cgroup of that kind, or undefined when it can. */
export async function cgroupUnavailable(kind: keyof typeof ROOTS): Promise<string | undefined> {
  const root = ROOTS[kind];
  try {
    await access(path.join(root, 'cgroup.procs'));
  } catch {
    return `no cgroup v1 ${kind} controller mounted at ${root}`;
  }
  const probe = path.join(root, `pm-probe-${process.pid}-${randomBytes(3).toString('hex')}`);
  try {
    await mkdir(probe);
    await rmdir(probe);
    return undefined;
  } catch (error) {
    return `cannot create a ${kind} cgroup under ${root} (needs root): ${(error as Error).message}`;
  }
}

/** Skips the test with the reason, or fails it when CI=true. Returns true when the test may go on. */
export async function needCgroup(t: Test, kind: keyof typeof ROOTS): Promise<boolean> {
  const why = await cgroupUnavailable(kind);
  if (why === undefined) return true;
  skipOrFailInCi(t, `this test needs a real cgroup: ${why}`);
  return false;
}

/** A fresh cgroup with the given settings (file -> value); removed in t.teardown, its processes killed first. */
export async function testCgroup(t: Test, kind: keyof typeof ROOTS, settings: Record<string, string>): Promise<TestCgroup> {
  const dir = path.join(ROOTS[kind], `pm-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir);
  t.teardown(() => removeCgroup(dir));
  for (const [name, value] of Object.entries(settings)) await writeFile(path.join(dir, name), value);
  return { dir, procs: path.join(dir, 'cgroup.procs'), read: (name) => readFile(path.join(dir, name), 'utf8') };
}

async function removeCgroup(dir: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const pids = (await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
    // Only the test's own processes are in here: leftovers of a failed test.
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    try {
      await rmdir(dir);
      return;
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`could not remove the test cgroup ${dir}`);
}

/** Bash that moves itself into the cgroups, then runs the rest of a command line with exec. */
export function joinCgroups(procsFiles: string[]): string {
  return procsFiles.map((f) => `echo $$ > ${JSON.stringify(f)} || exit 97; `).join('');
}
