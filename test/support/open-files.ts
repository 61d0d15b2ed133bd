// Whether this test process still holds a file open, read from /proc/self/fd: how a test sees
// that a reader closed its file (a deadline must not leave a dump open).
import { readdir, readlink } from 'node:fs/promises';

export async function isOpen(file: string): Promise<boolean> {
  for (const fd of await readdir('/proc/self/fd')) {
    if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === file) return true;
  }
  return false;
}
