// Whether a core file is whole: its ELF program headers say where each segment lies, so a
// core the kernel could not finish (a full disk, the disk quota) is shorter than they
// describe. Reads the headers only. 64-bit little-endian cores (x86-64, arm64); for anything
// else there is no verdict.
import { open } from 'node:fs/promises';
import type { Completeness } from '../store/pipeline.ts';

const ELF_HEADER = 64;
const ET_CORE = 4;
const PN_XNUM = 0xffff;

export async function coreCompleteness(file: string): Promise<Completeness | undefined> {
  const handle = await open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    const header = Buffer.alloc(ELF_HEADER);
    const { bytesRead } = await handle.read(header, 0, ELF_HEADER, 0);
    if (bytesRead < ELF_HEADER) return { complete: false, reason: `the core file is cut short: ${size} bytes, not even an ELF header` };
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1 || header.readUInt16LE(16) !== ET_CORE) return undefined;
    const phoff = Number(header.readBigUInt64LE(32));
    const phentsize = header.readUInt16LE(54);
    const phnum = header.readUInt16LE(56);
    if (phnum === PN_XNUM || phentsize < 40) return undefined; // more than 65534 segments: counted elsewhere
    const table = Buffer.alloc(phnum * phentsize);
    const read = await handle.read(table, 0, table.length, phoff);
    if (read.bytesRead < table.length) return { complete: false, reason: `the core file is cut short: ${size} bytes end inside its own segment table` };
    let needed = phoff + table.length;
    for (let i = 0; i < phnum; i++) {
      const entry = i * phentsize;
      needed = Math.max(needed, Number(table.readBigUInt64LE(entry + 8)) + Number(table.readBigUInt64LE(entry + 32)));
    }
    return size >= needed
      ? { complete: true }
      : { complete: false, reason: `the core file is cut short: ${size} of the ${needed} bytes its headers describe (a full disk or quota while the kernel wrote it?)` };
  } finally {
    await handle.close();
  }
}
