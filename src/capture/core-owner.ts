// Whose core is it? A core file's ELF notes name the process that dumped it (NT_PRPSINFO:
// pid, parent, process group). The kernel writes the notes first, so they can be read while
// the rest of the core is still being written. Used when several watchdogs share a folder
// (the app and its sidecars all run in the app's working directory).
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CoreOwner {
  pid: number;
  ppid: number;
  pgrp: number;
}

const PT_NOTE = 4;
const NT_PRPSINFO = 3;

/** Parses the notes of an x86-64/aarch64 (ELF64, little-endian) core; undefined if not (yet) readable. */
export function parseCoreOwner(head: Buffer): CoreOwner | undefined {
  if (head.length < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return undefined;
  const phoff = Number(head.readBigUInt64LE(32));
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > head.length) return undefined;
    if (head.readUInt32LE(ph) !== PT_NOTE) continue;
    const start = Number(head.readBigUInt64LE(ph + 8));
    const end = start + Number(head.readBigUInt64LE(ph + 32));
    let at = start;
    while (at + 12 <= Math.min(end, head.length)) {
      const namesz = head.readUInt32LE(at);
      const descsz = head.readUInt32LE(at + 4);
      const type = head.readUInt32LE(at + 8);
      const desc = at + 12 + align4(namesz);
      if (type === NT_PRPSINFO) {
        if (desc + 40 > head.length) return undefined;
        // struct elf_prpsinfo (64-bit): state, sname, zomb, nice, pad, flag (8), uid, gid, pid, ppid, pgrp, sid
        return { pid: head.readInt32LE(desc + 24), ppid: head.readInt32LE(desc + 28), pgrp: head.readInt32LE(desc + 32) };
      }
      at = desc + align4(descsz);
    }
  }
  return undefined;
}

const align4 = (n: number) => (n + 3) & ~3;

/** Reads the owner once the notes are written (bounded wait: the kernel writes them first). */
export async function readCoreOwner(file: string, waitMs = 2000): Promise<CoreOwner | undefined> {
  const deadline = Date.now() + waitMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    const handle = await open(file, 'r').catch(() => undefined);
    if (handle) {
      try {
        const head = Buffer.alloc(64 * 1024);
        const { bytesRead } = await handle.read(head, 0, head.length, 0);
        const owner = parseCoreOwner(head.subarray(0, bytesRead));
        if (owner) return owner;
      } finally {
        await handle.close();
      }
    }
    if (Date.now() >= deadline) return undefined;
    await sleep(delay);
  }
}
