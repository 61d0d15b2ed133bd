// Talk to a running HotSpot JVM through its attach mechanism, without any JDK tool (the JRE
// images CF apps run on have no jcmd or jmap): thread dumps, heap dumps, diagnostic commands.
//
// How a JVM is reached (Linux):
//   1. /proc says the pid is a live HotSpot JVM (libjvm.so mapped) we may talk to (same uid and
//      gid, or root). Nothing is sent to any other process.
//   2. Its socket <JVM's /tmp>/.java_pid<pid in its namespace> accepts a connection: done.
//   3. Otherwise its attach listener is asleep. Refuse when its hsperfdata says attach is
//      disabled, or when it does not catch SIGQUIT (-Xrs, or still starting: SIGQUIT's default
//      action would kill it and dump core). Else create the trigger file .attach_pid<pid> in its
//      working directory (or /tmp), send SIGQUIT, and wait, backing off, for the socket.
//   4. Send the request (protocol.ts), read the result code line, then the output until EOF.
import { lstat, open, rm, stat } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readPerfData, attachCapability } from './perfdata.ts';
import { encodeRequest, exchange } from './protocol.ts';
import { inspectTarget, stillThere, type Caller, type Target } from './target.ts';
import {
  AttachError,
  type AttachCommandName,
  type AttachCommandOptions,
  type AttachOptions,
  type AttachResult,
  type AttachStream,
  type HeapDumpOptions,
  type HeapDumpResult,
  type ThreadDumpOptions,
} from './types.ts';

export * from './types.ts';

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_HEAP_DUMP_TIMEOUT_MS = 30 * 60_000;
const DEFAULT_ATTACH_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
const FIRST_POLL_MS = 10;
const MAX_POLL_MS = 250;

/** Runs one attach operation and returns the JVM's result code and its whole output. */
export async function attachCommand(pid: number, command: AttachCommandName, args: readonly string[], options: AttachCommandOptions = {}): Promise<AttachResult> {
  const maxOutputBytes = positive(options.maxOutputBytes, 'maxOutputBytes', DEFAULT_MAX_OUTPUT_BYTES);
  const { code, output } = await run(pid, command, args, options, DEFAULT_TIMEOUT_MS);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of output) {
    size += chunk.length;
    if (size > maxOutputBytes) {
      output.destroy();
      throw new AttachError('usage', `the answer of JVM ${pid} to "${command}" exceeds maxOutputBytes (${maxOutputBytes} bytes): use attachStream, or raise maxOutputBytes`, { pid });
    }
    chunks.push(chunk);
  }
  return { code, output: Buffer.concat(chunks).toString('utf8') };
}

/** Like attachCommand, but the output streams as it arrives (resolves once the result code is in). */
export async function attachStream(pid: number, command: AttachCommandName, args: readonly string[], options: AttachOptions = {}): Promise<AttachStream> {
  const { code, output } = await run(pid, command, args, options, DEFAULT_TIMEOUT_MS);
  return { code, output };
}

/** The JVM's thread dump (what jstack prints), as text. */
export async function threadDump(pid: number, options: ThreadDumpOptions = {}): Promise<string> {
  const flags = [options.locks ? '-l' : '', options.extended ? '-e' : ''].filter(Boolean).join(' ');
  const result = await attachCommand(pid, 'threaddump', [flags], options);
  return succeeded(pid, 'threaddump', result);
}

/** A diagnostic command, as `jcmd <pid> <commandLine>` runs it (e.g. "VM.version", "GC.class_histogram"). */
export async function jcmd(pid: number, commandLine: string, options: AttachCommandOptions = {}): Promise<string> {
  if (commandLine.trim() === '') throw new AttachError('usage', 'jcmd needs a command line, e.g. "VM.version" (got an empty one)', { pid });
  const result = await attachCommand(pid, 'jcmd', [commandLine.trim()], options);
  return succeeded(pid, `jcmd ${commandLine.trim()}`, result);
}

/**
 * Makes the JVM write a heap dump to `file` (absolute, in the JVM's own filesystem view; it must
 * not exist yet and its folder must exist). The JVM writes the file itself, as its own user.
 */
export async function heapDump(pid: number, file: string, options: HeapDumpOptions = {}): Promise<HeapDumpResult> {
  if (!path.isAbsolute(file)) {
    throw new AttachError('usage', `the heap dump file must be an absolute path (the JVM resolves relative ones against its own working directory), got "${file}"`, { pid });
  }
  const level = options.gzipLevel;
  if (level !== undefined && !(Number.isInteger(level) && level >= 1 && level <= 9)) {
    throw new AttachError('usage', `gzipLevel must be an integer from 1 to 9, got ${String(level)}`, { pid });
  }
  const args = [file, options.live ? '-live' : '-all', level === undefined ? '' : String(level)];
  let localPath = file;
  const { code, output } = await run(pid, 'dumpheap', args, options, DEFAULT_HEAP_DUMP_TIMEOUT_MS, {
    before: async (target) => {
      localPath = `${target.root}${file}`;
      await checkDumpTarget(pid, file, localPath);
    },
    timeoutHint: `; the JVM may still be writing ${file}`,
  });
  const text = await collect(output);
  const created = /Heap dump file created/.test(text);
  const st = await stat(localPath).catch(() => undefined);
  if (code !== 0 || !created || !st) {
    throw new AttachError('command-failed', `JVM ${pid} did not write the heap dump ${file} (result ${code}): ${text.trim() || 'no explanation'}`, { pid, result: { code, output: text } });
  }
  return { file, localPath, size: st.size, compressed: await isGzip(localPath), output: text.trim() };
}

function succeeded(pid: number, what: string, result: AttachResult): string {
  if (result.code !== 0) {
    throw new AttachError('command-failed', `JVM ${pid} failed "${what}" (result ${result.code}): ${result.output.trim() || 'no explanation'}`, { pid, result });
  }
  return result.output;
}

async function checkDumpTarget(pid: number, file: string, localPath: string): Promise<void> {
  const existing = await lstat(localPath).catch(() => undefined);
  if (existing) throw new AttachError('usage', `${file} already exists: the JVM will not overwrite it; choose a new file name`, { pid });
  const dir = await stat(path.dirname(localPath)).catch(() => undefined);
  if (!dir?.isDirectory()) throw new AttachError('usage', `the folder of ${file} does not exist (in the JVM's filesystem); create it first`, { pid });
}

async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await handle.read(magic, 0, 2, 0);
    return bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

async function collect(output: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of output) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

// ---------------------------------------------------------------------------------------------

interface RunHooks {
  /** Called with the inspected JVM before anything is sent to it. */
  before?: (target: Target) => Promise<void>;
  /** Appended to the timeout message once the request is sent. */
  timeoutHint?: string;
}

interface Normalized {
  timeoutMs: number;
  attachTimeoutMs: number;
  log: (message: string) => void;
  /** What we are doing, for the timeout message. */
  phase: (doing: string) => void;
}

async function run(pid: number, command: AttachCommandName, args: readonly string[], options: AttachOptions, defaultTimeoutMs: number, hooks: RunHooks = {}) {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new AttachError('usage', `pid must be a positive integer, got ${String(pid)}`);
  let phase = `attaching to JVM ${pid}`;
  const opts: Normalized = {
    timeoutMs: positive(options.timeoutMs, 'timeoutMs', defaultTimeoutMs),
    attachTimeoutMs: positive(options.attachTimeoutMs, 'attachTimeoutMs', DEFAULT_ATTACH_TIMEOUT_MS),
    log: options.log ?? (() => {}),
    phase: (doing) => void (phase = doing),
  };
  const request = encodeRequest(command, args);
  const deadline = startDeadline(opts.timeoutMs, options.signal, () => phase, pid);
  try {
    const target = await inspectTarget(pid, caller());
    deadline.signal.throwIfAborted();
    await hooks.before?.(target);
    const socket = await openListener(target, opts, deadline.signal);
    phase = `waiting for JVM ${pid} to answer "${command}"${hooks.timeoutHint ?? ''}`;
    const onAbort = (): void => void socket.destroy(deadline.signal.reason as Error);
    deadline.signal.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      deadline.signal.removeEventListener('abort', onAbort);
      deadline.dispose();
    };
    try {
      const answer = await exchange(socket, request, pid);
      answer.output.once('close', done);
      opts.log(`JVM ${pid} answered "${command}" with result ${answer.code}`);
      return answer;
    } catch (error) {
      done();
      throw error;
    }
  } catch (error) {
    deadline.dispose();
    // an abort surfaces as whatever the interrupted step threw; report the abort itself
    throw deadline.signal.aborted && !(error instanceof AttachError) ? deadline.signal.reason : error;
  }
}

function caller(): Caller {
  return { uid: process.geteuid?.() ?? -1, gid: process.getegid?.() ?? -1 };
}

function positive(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new AttachError('usage', `${name} must be a positive number of ${name.endsWith('Ms') ? 'milliseconds' : 'bytes'}, got ${String(value)}`);
  }
  return value;
}

/** One AbortSignal for the whole exchange: our timeout or the caller's signal, with an AttachError as reason. */
function startDeadline(timeoutMs: number, outer: AbortSignal | undefined, phase: () => string, pid: number) {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new AttachError('timeout', `timed out after ${timeoutMs} ms ${phase()}`, { pid }));
  }, timeoutMs);
  const onOuter = (): void => controller.abort(new AttachError('aborted', `cancelled while ${phase()}`, { pid, cause: outer?.reason }));
  if (outer?.aborted) onOuter();
  else outer?.addEventListener('abort', onOuter, { once: true });
  return {
    signal: controller.signal,
    dispose: (): void => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

// Several attaches to one JVM from this process wake its listener once, not with one SIGQUIT each
// (a SIGQUIT to a JVM whose listener is already up prints a thread dump into the app's log).
const waking = new Map<number, Promise<unknown>>();

async function openListener(target: Target, opts: Normalized, signal: AbortSignal): Promise<Socket> {
  const ready = await tryConnect(target, signal);
  if (ready) return ready;
  const before = waking.get(target.pid) ?? Promise.resolve();
  const mine = before.catch(() => {}).then(() => wake(target, opts, signal));
  waking.set(target.pid, mine);
  try {
    return await mine;
  } finally {
    if (waking.get(target.pid) === mine) waking.delete(target.pid);
  }
}

async function wake(target: Target, opts: Normalized, signal: AbortSignal): Promise<Socket> {
  const { pid } = target;
  const already = await tryConnect(target, signal);
  if (already) return already;
  const perf = await readPerfData(target.tmpDir, target.nspid, target.uid);
  const attachable = perf ? attachCapability(perf) : undefined;
  if (attachable === false) {
    throw new AttachError('attach-disabled', `JVM ${pid} (${target.name}) runs with -XX:+DisableAttachMechanism (its hsperfdata says so): it cannot be attached to. Nothing was sent to it.`, { pid });
  }
  if (!target.catchesSigquit) {
    throw new AttachError(
      'no-sigquit-handler',
      target.ignoresSigquit
        ? `JVM ${pid} (${target.name}) has no attach socket and ignores SIGQUIT, so its attach listener cannot be woken. Nothing was sent to it.`
        : `JVM ${pid} (${target.name}) has no attach socket and no SIGQUIT handler (it runs with -Xrs, or is still starting): SIGQUIT would kill it, so none was sent.`,
      { pid },
    );
  }
  const trigger = await createTrigger(target);
  try {
    if (!(await stillThere(target))) throw new AttachError('no-such-process', `process ${pid} exited before it could be attached to`, { pid });
    const started = Date.now();
    quit(target);
    opts.phase(`waiting for JVM ${pid} to open its attach socket ${target.socketPath} after SIGQUIT`);
    opts.log(`JVM ${pid} has no attach listener yet: created ${trigger} and sent SIGQUIT; waiting for ${target.socketPath}`);
    let delay = FIRST_POLL_MS;
    let resent = false;
    for (;;) {
      await sleep(delay, undefined, { signal }).catch(() => signal.throwIfAborted());
      const socket = await tryConnect(target, signal);
      if (socket) {
        opts.log(`JVM ${pid} opened its attach socket after ${Date.now() - started} ms`);
        return socket;
      }
      if (!(await stillThere(target))) throw new AttachError('no-such-process', `JVM ${pid} exited while we waited for its attach socket`, { pid });
      const waited = Date.now() - started;
      if (waited >= opts.attachTimeoutMs) {
        const why =
          attachable === true
            ? 'it is stuck (a long GC or safepoint), or cannot create files in its /tmp'
            : 'it runs with -XX:+DisableAttachMechanism (then SIGQUIT made it print a thread dump to its standard output: look there), or it is stuck (a long GC or safepoint), or cannot create files in its /tmp';
        throw new AttachError('timeout', `JVM ${pid} (${target.name}) did not open its attach socket ${target.socketPath} within ${opts.attachTimeoutMs} ms of SIGQUIT: ${why}`, { pid });
      }
      if (!resent && waited >= opts.attachTimeoutMs / 2) {
        // the JDK's own tools send a second SIGQUIT, too, for a signal that came in too early
        quit(target);
        resent = true;
      }
      delay = Math.min(delay * 2, MAX_POLL_MS);
    }
  } finally {
    await rm(trigger, { force: true }).catch(() => {});
  }
}

function quit(target: Target): void {
  try {
    process.kill(target.pid, 'SIGQUIT');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') throw new AttachError('no-such-process', `process ${target.pid} exited before it could be attached to`, { pid: target.pid, cause: error });
    if (code === 'EPERM') throw new AttachError('permission', `not allowed to signal process ${target.pid}: run as the JVM's user or as root`, { pid: target.pid, cause: error });
    throw error;
  }
}

/** A connected socket, or undefined when there is no live listener yet (absent or stale socket file). */
async function tryConnect(target: Target, signal: AbortSignal): Promise<Socket | undefined> {
  signal.throwIfAborted();
  const { pid, socketPath } = target;
  const st = await lstat(socketPath).catch(() => undefined);
  if (!st) return undefined;
  if (!st.isSocket()) throw new AttachError('permission', `${socketPath} is not a socket; refusing to use it (remove it so JVM ${pid} can create its own)`, { pid });
  if (st.uid !== target.uid) {
    throw new AttachError('permission', `${socketPath} belongs to uid ${st.uid}, not to the uid of JVM ${pid} (${target.uid}); refusing to send anything to it`, { pid });
  }
  try {
    return await connect(socketPath, signal);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return undefined; // gone, or left behind by a dead process
    if (code === 'EACCES' || code === 'EPERM') {
      throw new AttachError('permission', `cannot connect to ${socketPath} (${code}): run as the JVM's user or as root`, { pid, cause: error });
    }
    throw error;
  }
}

function connect(socketPath: string, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path: socketPath });
    const onAbort = (): void => {
      socket.destroy();
      reject(signal.reason);
    };
    const onError = (error: Error): void => {
      signal.removeEventListener('abort', onAbort);
      reject(error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** The file that tells the JVM's SIGQUIT handler to start the attach listener. */
async function createTrigger(target: Target): Promise<string> {
  const problems: string[] = [];
  const me = caller();
  for (const file of target.triggerPaths) {
    try {
      const handle = await open(file, 'w', 0o600);
      try {
        // JDK 8 accepts only a trigger owned by its own user; later JDKs also one owned by root
        if (me.uid === 0 && target.uid !== 0) await handle.chown(target.uid, target.gid).catch(() => {});
      } finally {
        await handle.close();
      }
      return file;
    } catch (error) {
      problems.push(`${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  throw new AttachError(
    'permission',
    `cannot create the attach trigger file for JVM ${target.pid} (${problems.join('; ')}): its working directory or /tmp must be writable by this user`,
    { pid: target.pid },
  );
}
