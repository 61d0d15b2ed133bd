// Runs the app as our child in its own process group, passes its output through as it
// arrives (the platform's log stream reads our stdout/stderr), forwards signals to the
// whole group, and reports how it ended. Plain child_process: execa's features are all off
// here, and loading it at start cost ~3.5 MiB of the watchdog's idle memory (issue 10).
import { spawn } from 'node:child_process';
import type { Env } from '../config/types.ts';

export interface AppProcess {
  pid: number;
  /** Sends a signal to the app's whole process group (bash -c and everything it started). */
  signal(signal: NodeJS.Signals): void;
  exited: Promise<{ exitCode?: number; signal?: string }>;
  readonly alive: boolean;
}

export interface SuperviseOptions {
  command: string[];
  env: Env;
  cwd?: string;
  /** Each chunk of the app's stdout/stderr, after it was written through. */
  onOutput?: (chunk: Buffer, stream: 'stdout' | 'stderr') => void;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export function startApp(options: SuperviseOptions): AppProcess {
  const [file, ...args] = options.command;
  if (!file) throw new Error('no app command given (expected: watchdog -- <command> [args…])');
  const child = spawn(file, args, {
    env: options.env as Record<string, string>,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdio: ['inherit', 'pipe', 'pipe'],
    detached: true, // own process group: signals reach the app's children too
  });
  let alive = true;
  const passThrough = (from: NodeJS.ReadableStream | null | undefined, to: NodeJS.WritableStream, name: 'stdout' | 'stderr') => {
    if (!from) return;
    from.on('data', (chunk: Buffer) => {
      // Write first, inspect after: the app's bytes reach the log stream untouched.
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
      options.onOutput?.(chunk, name);
    });
  };
  passThrough(child.stdout, options.stdout, 'stdout');
  passThrough(child.stderr, options.stderr, 'stderr');
  const pid = child.pid;
  if (pid === undefined) {
    // Not started (e.g. ENOENT): reported like a shell reports a missing command.
    return {
      pid: -1,
      signal: () => undefined,
      exited: new Promise((resolve) => child.once('error', () => resolve({ exitCode: 127 }))),
      get alive() { return false; },
    };
  }
  // The app's exit, not the end of its output: a grandchild that keeps the pipe open must
  // not hide the death. Output still in the pipe gets a moment to arrive.
  const exited = new Promise<{ exitCode?: number; signal?: string }>((resolve) => {
    child.once('exit', (code, signal) => {
      alive = false;
      const drained = Promise.all([ended(child.stdout), ended(child.stderr)]);
      const pause = new Promise((r) => setTimeout(r, 1000).unref());
      void Promise.race([drained, pause]).then(() =>
        resolve({ ...(code !== null ? { exitCode: code } : {}), ...(signal ? { signal } : {}) }));
    });
  });
  child.on('error', () => undefined);
  return {
    pid,
    signal(signal) {
      try {
        process.kill(-pid, signal);
      } catch {
        try { process.kill(pid, signal); } catch { /* already gone */ }
      }
    },
    exited,
    get alive() { return alive; },
  };
}

function ended(stream: NodeJS.ReadableStream | null | undefined): Promise<void> {
  if (!stream || (stream as { readableEnded?: boolean }).readableEnded) return Promise.resolve();
  return new Promise((resolve) => { stream.once('end', resolve); stream.once('close', resolve); });
}
