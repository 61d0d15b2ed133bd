// Who is behind a pid, read from /proc before anything is sent to it: is it alive, is it a
// HotSpot JVM, may we talk to it, does it catch SIGQUIT, and where are its files. A JVM in
// another pid namespace (a container) names its socket after its own pid (the last NSpid
// entry); a JVM in another mount namespace has its own /tmp, reached via /proc/<pid>/root.
import { readFile, readlink } from 'node:fs/promises';
import { AttachError } from './types.ts';

const SIGQUIT_BIT = 1n << 2n; // signal 3 -> bit 2 of the SigCgt/SigIgn masks

export interface ProcStatus {
  name: string;
  /** One letter: R, S, D, Z, X, T, … */
  state: string;
  /** real, effective, saved, filesystem */
  uids: number[];
  gids: number[];
  /** The pid in each pid namespace, outermost first (just [pid] without NSpid, kernels < 4.1). */
  nspids: number[];
  sigCgt: bigint;
  sigIgn: bigint;
}

/** Parses /proc/<pid>/status. */
export function parseStatus(text: string): ProcStatus {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const numbers = (key: string): number[] => (fields.get(key) ?? '').split(/\s+/).filter(Boolean).map(Number);
  const mask = (key: string): bigint => {
    const hex = fields.get(key);
    return hex && /^[0-9a-f]+$/i.test(hex) ? BigInt(`0x${hex}`) : 0n;
  };
  return {
    name: fields.get('Name') ?? '',
    state: (fields.get('State') ?? '?').charAt(0),
    uids: numbers('Uid'),
    gids: numbers('Gid'),
    nspids: numbers('NSpid'),
    sigCgt: mask('SigCgt'),
    sigIgn: mask('SigIgn'),
  };
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks): tells a process from a later one with the same pid. */
export function parseStartTime(statText: string): string | undefined {
  const close = statText.lastIndexOf(')');
  if (close < 0) return undefined;
  // after "pid (comm)" come the fields from 3 (state) on
  return statText.slice(close + 2).split(' ')[22 - 3];
}

export type JvmKind = 'hotspot' | 'openj9' | 'none';

/** What /proc/<pid>/maps says about the process: HotSpot maps libjvm.so, OpenJ9 also maps libj9vm*.so. */
export function jvmKind(maps: string): JvmKind {
  if (/\/libj9vm[^/\s]*\.so/.test(maps)) return 'openj9';
  // " (deleted)": the JDK on disk was replaced (a package upgrade) while this JVM kept running
  if (/\/libjvm\.so( \(deleted\))?$/m.test(maps)) return 'hotspot';
  return 'none';
}

export interface Target {
  /** The pid as this process sees it (what we signal). */
  pid: number;
  /** The pid as the JVM sees itself: its socket is .java_pid<nspid>. */
  nspid: number;
  name: string;
  /** The JVM's effective uid and gid: the only peer it answers besides root. */
  uid: number;
  gid: number;
  startTime: string | undefined;
  /** '' when the JVM shares our mount namespace, else /proc/<pid>/root (its filesystem as we reach it). */
  root: string;
  /** The JVM's /tmp as we reach it (HotSpot always uses /tmp, whatever TMPDIR or java.io.tmpdir say). */
  tmpDir: string;
  socketPath: string;
  /** Trigger files, in the order the JVM looks for them: its working directory, then /tmp. */
  triggerPaths: [string, string];
  catchesSigquit: boolean;
  ignoresSigquit: boolean;
}

export interface Caller {
  uid: number;
  gid: number;
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

async function readProc(pid: number, file: string): Promise<string> {
  try {
    return await readFile(`/proc/${pid}/${file}`, 'utf8');
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT' || code === 'ESRCH') {
      throw new AttachError('no-such-process', `no process ${pid}: nothing to attach to (find the JVM with: ps -eo pid,user,args | grep java)`, { pid, cause: error });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new AttachError('permission', `cannot read /proc/${pid}/${file} (${code}): run as the JVM's user or as root`, { pid, cause: error });
    }
    throw error;
  }
}

/** Alive and the same process as when inspected (not exited, not a zombie, pid not reused). */
export async function stillThere(target: Target): Promise<boolean> {
  const stat = await readFile(`/proc/${target.pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2).charAt(0);
  return state !== 'Z' && state !== 'X' && parseStartTime(stat) === target.startTime;
}

/** Everything the attach needs to know about `pid`; throws an AttachError when it is no attachable HotSpot JVM. */
export async function inspectTarget(pid: number, caller: Caller): Promise<Target> {
  const status = parseStatus(await readProc(pid, 'status'));
  const startTime = parseStartTime(await readProc(pid, 'stat'));
  if (status.state === 'Z' || status.state === 'X') {
    throw new AttachError('no-such-process', `process ${pid} (${status.name}) has exited (it is a zombie waiting for its parent)`, { pid });
  }
  const uid = status.uids[1] ?? -1;
  const gid = status.gids[1] ?? -1;
  if (caller.uid !== 0 && (caller.uid !== uid || caller.gid !== gid)) {
    throw new AttachError(
      'permission',
      `process ${pid} (${status.name}) runs as uid ${uid} gid ${gid}, this process as uid ${caller.uid} gid ${caller.gid}: a JVM answers only its own user and group, or root. Run this as that user (in cf ssh you are the app's user) or as root.`,
      { pid },
    );
  }
  const kind = jvmKind(await readProc(pid, 'maps'));
  if (kind === 'openj9') {
    throw new AttachError('not-a-jvm', `process ${pid} (${status.name}) is an OpenJ9 JVM: this client speaks HotSpot's attach protocol only. Nothing was sent to it.`, { pid });
  }
  if (kind === 'none') {
    throw new AttachError('not-a-jvm', `process ${pid} (${status.name}) is not a HotSpot JVM: no libjvm.so is mapped into it. Nothing was sent to it.`, { pid });
  }
  const nspid = status.nspids.at(-1) ?? pid;
  const root = (await sameMountNamespace(pid)) ? '' : `/proc/${pid}/root`;
  const tmpDir = `${root}/tmp`;
  return {
    pid,
    nspid,
    name: status.name,
    uid,
    gid,
    startTime,
    root,
    tmpDir,
    socketPath: `${tmpDir}/.java_pid${nspid}`,
    triggerPaths: [`/proc/${pid}/cwd/.attach_pid${nspid}`, `${tmpDir}/.attach_pid${nspid}`],
    catchesSigquit: (status.sigCgt & SIGQUIT_BIT) !== 0n,
    ignoresSigquit: (status.sigIgn & SIGQUIT_BIT) !== 0n,
  };
}

async function sameMountNamespace(pid: number): Promise<boolean> {
  const ours = await readlink('/proc/self/ns/mnt').catch(() => undefined);
  const theirs = await readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined);
  // unreadable: we cannot go through /proc/<pid>/root either, so /tmp is the best guess
  return ours === undefined || theirs === undefined || ours === theirs;
}

