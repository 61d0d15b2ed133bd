// Runs the app as our child in its own process group, passes its output through as it
// arrives (the platform's log stream reads our stdout/stderr), forwards signals to the
// whole group, and reports how it ended. Plain child_process: execa's features are all off
// here, and loading it at start cost ~3.5 MiB of the watchdog's idle memory (issue 10).
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import type { Env } from '../config/types.ts';
import type { OutputPipe } from './output-pipes.ts';
import { resumeAllPaused } from '../util/paused-writers.ts';

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
  /** Called each time gathered output was passed on (written, or queued on the stream). */
  onPassedOn?: () => void;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Pipes for the app's stdout and stderr (output-pipes.ts); default Node.js's socketpairs. */
  pipes?: [OutputPipe, OutputPipe];
}

export function startApp(options: SuperviseOptions): AppProcess {
  const [file, ...args] = options.command;
  if (!file) throw new Error('no app command given (expected: watchdog -- <command> [args…])');
  const child = spawn(file, args, {
    env: options.env as Record<string, string>,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdio: ['inherit', options.pipes?.[0].write ?? 'pipe', options.pipes?.[1].write ?? 'pipe'],
    detached: true, // own process group: signals reach the app's children too
  });
  // The app has its ends of our pipes now; holding them here would hide the end of its output.
  for (const pipe of options.pipes ?? []) closeSync(pipe.write);
  const stdout = options.pipes?.[0].read ?? child.stdout;
  const stderr = options.pipes?.[1].read ?? child.stderr;
  let alive = true;
  const passThrough = (from: NodeJS.ReadableStream | null | undefined, to: NodeJS.WritableStream, name: 'stdout' | 'stderr') => {
    if (!from) return;
    const write = relayTo(to, from);
    // Gathered for at most GATHER_MS (or GATHER_BYTES): we wake for every line a logger writes,
    // and passing each on alone would make the log reader downstream wake for every line too.
    let gathered: Buffer[] = [];
    let bytes = 0;
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (bytes === 0) return;
      const data = gathered.length === 1 ? gathered[0]! : Buffer.concat(gathered, bytes);
      gathered = [];
      bytes = 0;
      write(data);
      options.onPassedOn?.();
    };
    from.on('data', (chunk: Buffer) => {
      gathered.push(chunk);
      bytes += chunk.length;
      if (bytes >= GATHER_BYTES) flush();
      else timer ??= setTimeout(flush, GATHER_MS);
      // The bytes are passed on as they came; what we learn from them never changes them.
      options.onOutput?.(chunk, name);
    });
    from.once('end', flush);
  };
  passThrough(stdout, options.stdout, 'stdout');
  passThrough(stderr, options.stderr, 'stderr');
  const pid = child.pid;
  if (pid === undefined) {
    for (const pipe of options.pipes ?? []) pipe.read.destroy();
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
      const drained = Promise.all([ended(stdout), ended(stderr)]);
      const pause = new Promise((r) => setTimeout(r, 1000).unref());
      void Promise.race([drained, pause]).then(() =>
        resolve({ ...(code !== null ? { exitCode: code } : {}), ...(signal ? { signal } : {}) }));
    });
  });
  child.on('error', () => undefined);
  return {
    pid,
    signal(signal) {
      // A dump writer we paused (writer-pacing.ts) must run to act on what it is sent.
      resumeAllPaused();
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

/** At most this long between the app writing a line and our passing it on. */
const GATHER_MS = 1;
const GATHER_BYTES = 64 * 1024;

/**
 * Writes to `to` in order with back-pressure on `from`. One write(2) straight to the descriptor
 * (process.stdout's is non-blocking) when it can: the stream's machinery per chunk costs more
 * than the copy. Only what the pipe does not take at once goes through the stream, which keeps
 * the order; direct writes resume once it has written everything.
 */
function relayTo(to: NodeJS.WritableStream, from: NodeJS.ReadableStream): (data: Buffer) => void {
  const toFd = (to as unknown as { fd?: unknown }).fd;
  const fd = typeof toFd === 'number' ? toFd : undefined;
  let queued = 0;
  const written = () => { queued -= 1; };
  return (data) => {
    let rest = data;
    if (fd !== undefined && queued === 0) {
      try {
        rest = data.subarray(writeSync(fd, data));
      } catch { /* EAGAIN (pipe full) or an error: the stream handles both as before */ }
    }
    if (rest.length === 0) return;
    queued += 1;
    if (!to.write(rest, written)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  };
}

function ended(stream: NodeJS.ReadableStream | null | undefined): Promise<void> {
  if (!stream || (stream as { readableEnded?: boolean }).readableEnded) return Promise.resolve();
  return new Promise((resolve) => { stream.once('end', resolve); stream.once('close', resolve); });
}
