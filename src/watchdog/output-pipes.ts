// Real pipes for the app's stdout and stderr. Node.js gives a child socketpairs, and a
// 100-byte write to a Unix socket costs the app several times a pipe write (an skb each,
// the send buffer full after a few hundred lines): a logger writing a line at a time ran at
// a third of its speed without us. Node.js cannot make a pipe, so the start command opens
// two (`3<> <(:)`: a pipe opened read-write through /proc) and names them in
// POSTMORTEM_OUTPUT_FDS; here each becomes a write end for the app and a read end for us.
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import net from 'node:net';
import type { Env } from '../config/types.ts';

export const OUTPUT_FDS_VARIABLE = 'POSTMORTEM_OUTPUT_FDS';

export interface OutputPipe {
  /** The app's end (given to it as stdout or stderr, closed here once it runs). */
  write: number;
  /** Our end, read as a stream. */
  read: net.Socket;
}

/** The pipes the start command opened, or undefined (then the child gets Node.js's own). */
export function takeOutputPipes(env: Env): [OutputPipe, OutputPipe] | undefined {
  const fds = (env[OUTPUT_FDS_VARIABLE] ?? '').split(',').map(Number);
  if (fds.length !== 2 || !fds.every((fd) => Number.isInteger(fd) && fd > 2)) return undefined;
  const opened: number[] = [];
  try {
    if (!fds.every((fd) => fstatSync(fd).isFIFO())) return undefined;
    const pipes = fds.map((fd) => {
      const read = openSync(`/proc/self/fd/${fd}`, constants.O_RDONLY | constants.O_NONBLOCK);
      opened.push(read);
      const write = openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY);
      opened.push(write);
      return { write, read };
    });
    const result = pipes.map(({ write, read }) => ({ write, read: new net.Socket({ fd: read, readable: true, writable: false }) }));
    return [result[0]!, result[1]!];
  } catch {
    for (const fd of opened) try { closeSync(fd); } catch { /* already closed */ }
    return undefined;
  } finally {
    // The read-write descriptors from the start command: never the app's, and a writer held
    // here would keep our read end from ever seeing the end of the app's output.
    closeOutputFds(env);
  }
}

/** Closes the descriptors the start command opened (also before the app is exec'd in our place). */
export function closeOutputFds(env: Env): void {
  for (const fd of (env[OUTPUT_FDS_VARIABLE] ?? '').split(',').map(Number)) {
    if (!Number.isInteger(fd) || fd <= 2) continue;
    try {
      if (fstatSync(fd).isFIFO()) closeSync(fd);
    } catch { /* not open */ }
  }
}
