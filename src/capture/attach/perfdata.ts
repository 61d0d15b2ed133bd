// HotSpot's performance data file (hsperfdata): the JVM publishes its counters in
// <its /tmp>/hsperfdata_<user>/<pid>, a memory-mapped file anyone with read access can parse.
// We read it to learn, BEFORE sending any signal, whether attach is disabled: the first
// character of `sun.rt.jvmCapabilities` is '1' when the attach mechanism is available and '0'
// with -XX:+DisableAttachMechanism (measured on JDK 17). Missing with -XX:-UsePerfData.
//
// Layout (version 2, byte order given by the file): a 32-byte prologue
//   0 magic 0xcafec0c0 (always big-endian)  4 byte order (0 big, 1 little)  5 major  6 minor
//   7 accessible  8 used  12 overflow  16 modification time (8)  24 entry offset  28 entry count
// then entries of
//   0 entry length  4 name offset  8 vector length  12 type ('B' bytes, 'J' long)  13 flags
//   14 units  15 variability  16 data offset        (offsets relative to the entry)
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';

const MAGIC = 0xcafec0c0;
const MAX_FILE = 4 * 1024 * 1024;

export type PerfValue = string | bigint;

/**
 * Every entry of an hsperfdata file: strings for byte vectors, bigint for longs. Undefined if
 * not one. `offsets`, when given, receives where each long lives in the file: entries never
 * move while the JVM runs, so a watcher can re-read just those 8 bytes.
 */
export function parsePerfData(buf: Buffer, offsets?: Map<string, number>): Map<string, PerfValue> | undefined {
  if (buf.length < 32 || buf.readUInt32BE(0) !== MAGIC) return undefined;
  const little = buf[4] === 1;
  const major = buf[5];
  if (major !== 2) return undefined;
  const i32 = (at: number): number => (little ? buf.readInt32LE(at) : buf.readInt32BE(at));
  const i64 = (at: number): bigint => (little ? buf.readBigInt64LE(at) : buf.readBigInt64BE(at));
  const cstring = (from: number, max: number): string => {
    const end = buf.indexOf(0, from);
    return buf.toString('latin1', from, end < 0 || end > from + max ? Math.min(buf.length, from + max) : end);
  };
  const entries = new Map<string, PerfValue>();
  let at = i32(24);
  const count = i32(28);
  for (let i = 0; i < count; i++) {
    if (at < 32 || at + 20 > buf.length) break;
    const length = i32(at);
    if (length < 20 || at + length > buf.length) break;
    const name = cstring(at + i32(at + 4), length);
    const vectorLength = i32(at + 8);
    const type = String.fromCharCode(buf[at + 12]!);
    const data = at + i32(at + 16);
    if (type === 'B' && vectorLength > 0 && data + vectorLength <= at + length) {
      entries.set(name, cstring(data, vectorLength));
    } else if (type === 'J' && vectorLength === 0 && data + 8 <= at + length) {
      entries.set(name, i64(data));
      offsets?.set(name, data);
    }
    at += length;
  }
  return entries;
}

/** true/false from `sun.rt.jvmCapabilities`, undefined when the file does not say. */
export function attachCapability(entries: Map<string, PerfValue>): boolean | undefined {
  const caps = entries.get('sun.rt.jvmCapabilities');
  if (typeof caps !== 'string' || caps.length === 0) return undefined;
  return caps[0] === '1';
}

/**
 * The perf data of the JVM whose pid in its own namespace is `nspid`, looked up in `tmpDir`
 * (its /tmp as we reach it); prefers the file owned by `uid`. Undefined when there is none.
 */
export async function readPerfData(tmpDir: string, nspid: number, uid: number): Promise<Map<string, PerfValue> | undefined> {
  const found = await findPerfData(tmpDir, nspid, uid);
  return found?.entries;
}

/** Like readPerfData, also naming the file, so a watcher can read it again without searching. */
export async function findPerfData(tmpDir: string, nspid: number, uid: number): Promise<{ file: string; entries: Map<string, PerfValue> } | undefined> {
  const dirs = (await readdir(tmpDir).catch(() => [] as string[])).filter((d) => d.startsWith('hsperfdata_'));
  const files: { file: string; owned: boolean }[] = [];
  for (const dir of dirs) {
    const file = path.join(tmpDir, dir, String(nspid));
    const st = await stat(file).catch(() => undefined);
    if (st?.isFile()) files.push({ file, owned: st.uid === uid });
  }
  files.sort((a, b) => Number(b.owned) - Number(a.owned));
  for (const { file } of files) {
    const entries = await readPerfDataFile(file);
    if (entries) return { file, entries };
  }
  return undefined;
}

/** The entries of one hsperfdata file; undefined when it is gone or not one. */
export function readPerfDataFile(file: string): Promise<Map<string, PerfValue> | undefined> {
  return readBounded(file).then(parsePerfData, () => undefined);
}

async function readBounded(file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(Math.min((await handle.stat()).size, MAX_FILE));
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
