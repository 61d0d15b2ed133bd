// Real JVMs (and other processes) for the attach tests: started with execa, ready once they
// print "ready", killed and cleaned up by the test's teardown.
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { javaApp } from '../../support/java.ts';

export interface Running {
  /** The pid to attach to (for a JVM in its own namespaces: as seen from here). */
  pid: number;
  child: ResultPromise;
  /** Everything the process wrote to stdout so far. */
  stdout(): string;
  alive(): boolean;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

let appDir: Promise<string> | undefined;

/** The compiled AttachTarget fixture, shared by the tests of one file. */
export function attachTargetApp(t: Teardown): Promise<string> {
  if (!appDir) {
    appDir = javaApp('AttachTarget');
    const dir = appDir;
    t.teardown(async () => rm(await dir, { recursive: true, force: true }));
  }
  return appDir;
}

/** Runs `file args` and waits for a line "ready …" (any process when `readyLine` is false). */
export async function start(t: Teardown, file: string, args: string[], options: { cwd?: string; env?: Record<string, string>; readyLine?: boolean } = {}): Promise<Running> {
  const child = execa(file, args, { cwd: options.cwd, env: options.env, stdin: 'ignore', reject: false, buffer: false });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.resume();
  let exited = false;
  void child.then(() => (exited = true));
  t.teardown(async () => {
    if (!exited) child.kill('SIGKILL');
    await child;
  });
  if (options.readyLine !== false) {
    const until = Date.now() + 30_000;
    while (!/^ready /m.test(out)) {
      if (exited) throw new Error(`${file} exited before it was ready: ${out}`);
      if (Date.now() > until) throw new Error(`${file} not ready within 30 s: ${out}`);
      await sleep(20);
    }
  }
  return { pid: child.pid!, child, stdout: () => out, alive: () => !exited && processAlive(child.pid!) };
}

/** A running AttachTarget JVM with extra JVM options. */
export async function startJvm(t: Teardown, jvmOptions: string[] = [], env: Record<string, string> = {}): Promise<Running> {
  const dir = await attachTargetApp(t);
  return start(t, 'java', [...jvmOptions, '-cp', dir, 'AttachTarget'], { cwd: dir, env });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !/\) [ZX] /.test(readStat(pid));
}

function readStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return '';
  }
}

/** The children of a process (e.g. the JVM that `unshare --fork` started). */
export async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.split(/\s+/).filter(Boolean).map(Number);
}
