// Running and observing processes: client runs measured by GNU time (wall, CPU and peak RSS
// from the kernel's rusage of the child, nothing sampled), line-timestamped children, and
// /proc readings of a running process. Every child started here is tracked so a failing
// benchmark can kill what it started, and nothing else.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const children = new Set<ChildProcess>();

function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Kills (SIGKILL) every child of ours still running; their process groups too when they lead one. */
export function killTrackedChildren(): void {
  for (const child of children) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* not a group leader */ }
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
}

export interface Measured {
  wallMs: number;
  /** User + system CPU of the client and the children it waited for. */
  cpuSeconds: number;
  maxRssBytes: number;
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs: number;
}

/** Runs a command to its end under /usr/bin/time; fails when it exits non-zero or times out. */
export async function runMeasured(file: string, args: string[], options: RunOptions): Promise<Measured> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pm-bench-time-'));
  const out = path.join(dir, 'rusage');
  try {
    const started = performance.now();
    const result = await runToEnd('/usr/bin/time', ['-f', '%e %U %S %M', '-o', out, file, ...args], options);
    const wallMs = performance.now() - started;
    const text = await readFile(out, 'utf8').catch(() => '');
    const last = text.trim().split('\n').pop() ?? '';
    const [, user, sys, rssKiB] = last.split(' ').map(Number);
    if (result.exitCode !== 0 || user === undefined || sys === undefined || rssKiB === undefined) {
      throw new Error(`${path.basename(file)} ${args.join(' ')} failed (exit ${String(result.exitCode)}${result.timedOut ? ', timed out' : ''}): ${(result.stderr || result.stdout).slice(-2000)}`);
    }
    return { wallMs, cpuSeconds: user + sys, maxRssBytes: rssKiB * 1024, exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface Ended {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a command, keeping the last 64 KiB of each stream; kills it after timeoutMs. */
export function runToEnd(file: string, args: string[], options: RunOptions): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    track(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => { stdout = (stdout + c.toString()).slice(-65536); });
    child.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-65536); });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, options.timeoutMs);
    child.once('error', (error) => { clearTimeout(timer); reject(error); });
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ exitCode, signal, stdout, stderr, timedOut });
    });
  });
}

export interface LineWatched {
  child: ChildProcess;
  pid: number;
  /** performance.now() when the first line matching the pattern arrived. */
  timeOf(pattern: RegExp): number | undefined;
  waitFor(pattern: RegExp, timeoutMs: number): Promise<number>;
  output(): string;
  exited: Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Starts a command and timestamps each output line (stdout and stderr) as it arrives. */
export function spawnWatched(file: string, args: string[], options: { env?: Record<string, string | undefined>; cwd?: string; detached?: boolean }): LineWatched {
  const child = spawn(file, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    detached: options.detached ?? false,
  });
  track(child);
  if (child.pid === undefined) throw new Error(`could not start ${file}`);
  const lines: { at: number; line: string }[] = [];
  let text = '';
  const partial = { stdout: '', stderr: '' };
  const waiters = new Set<{ pattern: RegExp; resolve: (at: number) => void }>();
  const onData = (name: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const at = performance.now();
    if (text.length < 1 << 20) text += chunk.toString();
    const pieces = (partial[name] + chunk.toString()).split('\n');
    partial[name] = pieces.pop() ?? '';
    for (const line of pieces) {
      lines.push({ at, line });
      for (const w of waiters) if (w.pattern.test(line)) { waiters.delete(w); w.resolve(at); }
    }
  };
  child.stdout!.on('data', onData('stdout'));
  child.stderr!.on('data', onData('stderr'));
  const exited = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('close', (exitCode, signal) => resolve({ exitCode, signal, at: performance.now() }));
  });
  const timeOf = (pattern: RegExp) => lines.find((l) => pattern.test(l.line))?.at;
  return {
    child,
    pid: child.pid,
    timeOf,
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs) {
      const at = timeOf(pattern);
      if (at !== undefined) return Promise.resolve(at);
      return new Promise((resolve, reject) => {
        const waiter = { pattern, resolve: (t: number) => { clearTimeout(timer); resolve(t); } };
        const timer = setTimeout(() => { waiters.delete(waiter); reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${pattern}; output:\n${text.slice(-3000)}`)); }, timeoutMs);
        waiters.add(waiter);
      });
    },
  };
}

/**
 * A process's CPU in clock ticks (USER_HZ, 100 on Linux): its own (utime + stime) and that of
 * the children it has reaped (cutime + cstime); undefined once it is gone.
 */
export async function cpuTimes(pid: number): Promise<{ own: number; reaped: number } | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return { own: fields[11]! + fields[12]!, reaped: fields[13]! + fields[14]! };
}

/** utime + stime of a running process, in clock ticks (USER_HZ, 100 on Linux). */
export async function cpuTicks(pid: number): Promise<number> {
  const times = await cpuTimes(pid);
  if (!times) throw new Error(`process ${pid} is gone`);
  return times.own;
}

/**
 * CPU time of all of a process's threads in nanoseconds, from the scheduler's own account
 * (`/proc/<pid>/task/<tid>/schedstat`, first field: time on a CPU). Unlike utime/stime, which
 * this kernel samples by ticks and charges whole to whoever runs when one fires, it is exact:
 * a 50 µs wake-up that happens to coincide with the tick costs 50 µs here, not 4 ms.
 * Threads that already exited are not counted (the idle watchdog's threads all live on).
 */
export async function cpuNanos(pid: number): Promise<number> {
  const tasks = await readdir(`/proc/${pid}/task`);
  let total = 0;
  for (const tid of tasks) {
    const text = await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => '0');
    total += Number(text.split(' ')[0]);
  }
  return total;
}

/**
 * How often a process's main thread went to sleep of its own accord (voluntary_ctxt_switches):
 * for an idle event loop, one per wake-up.
 */
export async function mainThreadSleeps(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/task/${pid}/status`, 'utf8');
  return Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? NaN);
}

/** VmRSS, VmHWM (peak) and RssAnon (the process's own memory, no shared text pages) in bytes. */
export async function memoryOf(pid: number): Promise<{ rss: number; hwm: number; anon: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM'), anon: kib('RssAnon') };
}

/** Samples a process's RssAnon and VmRSS every everyMs until stopped; peaks in bytes. */
/** Peak memory of pid while it runs, and its CPU ticks as last seen (close to its total when it exits). */
export function sampleMemoryPeak(pid: number, everyMs = 25): { stop(): { anon: number; rss: number; cpuTicks: number } } {
  const peak = { anon: 0, rss: 0, cpuTicks: 0 };
  const timer = setInterval(() => {
    memoryOf(pid).then((m) => {
      if (m.anon > peak.anon) peak.anon = m.anon;
      if (m.rss > peak.rss) peak.rss = m.rss;
    }, () => undefined);
    cpuTicks(pid).then((ticks) => { if (ticks > peak.cpuTicks) peak.cpuTicks = ticks; }, () => undefined);
  }, everyMs);
  return { stop: () => { clearInterval(timer); return { ...peak }; } };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with the promise's value, or rejects after ms with a message naming what was awaited. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Every descendant of pid (children, grandchildren, …), read from /proc. */
export async function descendantsOf(pid: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = parents.get(ppid) ?? [];
    list.push(Number(name));
    parents.set(ppid, list);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0 && found.length < 10_000) {
    for (const child of parents.get(queue.shift()!) ?? []) { found.push(child); queue.push(child); }
  }
  return found;
}

/** SIGKILLs a process we started and everything below it (for failure paths only). */
export async function killTree(pid: number): Promise<void> {
  const below = await descendantsOf(pid);
  for (const p of [pid, ...below]) {
    try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  }
}
