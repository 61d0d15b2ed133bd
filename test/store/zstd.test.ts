// POSTMORTEM_COMPRESSION=zstd (issue 12): blocks compressed as independent zstd frames, one
// valid .zst stream, checked by zstd(1) itself, not by our own reader. The compressing runs on
// the vendored runtime (Node 26, which has zstd) in a child process (fixtures/zstd-child.ts):
// this runner's Node 20 has none. Node 20 is then the real runtime without zstd: the fallback
// to gzip, and `get` decompressing through the zstd command (or saying what is missing).
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import t from 'tap';
import { checkArtifact } from '../../src/browse/artifacts.ts';
import type { ReportArtifact } from '../../src/browse/artifacts.ts';
import { usableCompression } from '../../src/store/codecs.ts';
import { createFileStore } from '../../src/store/file-store.ts';
import { storeArtifact } from '../../src/store/pipeline.ts';
import { extractRuntime } from '../support/runtime.ts';
import { skipOrFailInCi } from '../support/requirements.ts';
import { tempDir } from '../support/temp.ts';
import { dataChunks, sha256, type DataKind } from './fixtures/data.ts';

const BLOCK = 64 * 1024;
const SIZES = [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 7 * BLOCK + 4321];
const dir = await tempDir('postmortem-zstd-');
const hasZstdCommand = (await execa('zstd', ['--version'], { reject: false }).catch(() => ({ exitCode: 127 }))).exitCode === 0;
const thisNodeHasZstd = typeof (zlib as unknown as { zstdCompress?: unknown }).zstdCompress === 'function';

function expected(size: number, kind: DataKind): { sha256: string; bytes: number } {
  const hash = createHash('sha256');
  for (const chunk of dataChunks(size, kind, 1, 10_000)) hash.update(chunk);
  return { sha256: hash.digest('hex'), bytes: size };
}

/** zstd(1)'s verdict: `zstd -t` passes, the frame count `zstd -lv` sees, sha256 and length of `zstd -dc`. */
async function byZstd(file: string): Promise<{ frames: number; sha256: string; bytes: number }> {
  await execa('zstd', ['-t', '-q', file]);
  const listed = await execa('zstd', ['-lv', file]);
  const frames = Number(/Zstandard Frames: (\d+)/.exec(listed.stdout)?.[1]);
  const plain = await execa('zstd', ['-dc', file], { encoding: 'buffer', stripFinalNewline: false });
  return { frames, sha256: sha256(Buffer.from(plain.stdout)), bytes: plain.stdout.length };
}

interface ChildResult {
  version: string;
  blocks: { kind: DataKind; size: number; file: string; blockBuffers: number; maxBlockBuffers: number; engines: number; openEngines: number }[];
  record: { name: string; key: string; size: number; sha256: string; storedSize: number; storedSha256: string; contentEncoding?: string };
  got: { ok: boolean; problems: string[]; sha256?: string; savedAs?: string };
  storeRoot: string;
  usable: { chosen: string; lines: string[] };
}

t.test('on the vendored runtime: zstd frames per block, stored .zst, get restores the content', async (t) => {
  if (!hasZstdCommand) return skipOrFailInCi(t, 'the zstd command is not installed (apt-get install zstd)');
  const node = await extractRuntime(dir);
  const child = await execa(node, ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures/zstd-child.ts'), dir, String(BLOCK), SIZES.join(',')], { cwd: path.resolve(import.meta.dirname, '../..') });
  const result = JSON.parse(child.stdout) as ChildResult;
  t.match(result.version, /^v2[6-9]\./, 'the child ran on the vendored runtime');

  for (const b of result.blocks) {
    const seen = await byZstd(b.file);
    t.same(seen, { frames: Math.max(1, Math.ceil(b.size / BLOCK)), ...expected(b.size, b.kind) }, `${b.kind} ${b.size} bytes: zstd -t passes, one frame per block, zstd -dc gives the exact input`);
    t.ok(b.blockBuffers <= b.maxBlockBuffers, `${b.blockBuffers} block buffers <= ${b.maxBlockBuffers}`);
    // Frames from reused engines (reset between blocks), at most one per block in flight.
    t.ok(b.engines >= 1 && b.engines <= 3 && b.openEngines === 0, `${b.kind} ${b.size}: ${b.engines} engines, ${b.openEngines} left open`);
  }
  const heapish = result.blocks.find((b) => b.kind === 'heapish' && b.size === 7 * BLOCK + 4321)!;
  const stored = await readFile(heapish.file);
  t.ok(stored.length < heapish.size / 2, `compressed to ${stored.length} of ${heapish.size}`);

  // The pipeline: .zst name, zstd encoding, the content hash of the raw bytes, the stored hash of the file.
  const size = 2 * 1024 * 1024 + 12_345;
  const { record } = result;
  t.match(record, { name: 'heap.hprof.zst', key: 'crash/heap.hprof.zst', contentEncoding: 'zstd', size, sha256: expected(size, 'heapish').sha256 });
  const storedFile = path.join(result.storeRoot, 'crash/heap.hprof.zst');
  const storedBytes = await readFile(storedFile);
  t.equal(sha256(storedBytes), record.storedSha256, 'storedSha256 is the stored file\'s');
  t.same(await byZstd(storedFile), { frames: 3, ...expected(size, 'heapish') }, '1 MiB blocks: 3 frames; zstd -dc == the content the report hashes');
  t.match(result.got, { ok: true, problems: [], sha256: record.sha256 }, 'get on the vendored runtime (Node\'s own zstd) verifies it');
  t.equal(sha256(await readFile(path.join(dir, 'get-vendored/heap.hprof'))), record.sha256, 'and saves the plain content');
  t.same(result.usable, { chosen: 'zstd', lines: ['info evidence the watchdog compresses is zstd level 1 (POSTMORTEM_COMPRESSION=zstd), stored as .zst: postmortem get decompresses it'] });

  // The same object read on this Node 20: through the zstd command.
  const store = createFileStore({ kind: 'file', root: result.storeRoot, prefix: '', source: 'test' });
  const artifact: ReportArtifact = { ...record, location: '', compression: 'zstd', complete: true, verified: true, uploadMs: 0 };
  const here = await checkArtifact(store, artifact, { saveTo: path.join(dir, 'get-here', 'heap.hprof') });
  t.match(here, { ok: true, problems: [], sha256: record.sha256 }, `get on ${process.version} verifies it through the zstd command`);
  t.equal(sha256(await readFile(path.join(dir, 'get-here/heap.hprof'))), record.sha256);

  // Without the zstd command either: one clear error before any download.
  if (!thisNodeHasZstd) {
    const path0 = process.env.PATH;
    process.env.PATH = await tempDir('pm-no-zstd-');
    try {
      await t.rejects(checkArtifact(store, artifact), /cannot decompress zstd \(it needs >= 22\.15\), nor is a zstd command on PATH: install zstd or a newer Node\.js, or keep it compressed/);
    } finally {
      process.env.PATH = path0;
    }
  }

  // Bytes that are not the stored zstd: a verdict on the object, not a failed read.
  await writeFile(storedFile, Buffer.concat([storedBytes.subarray(0, 1000), Buffer.alloc(5000, 7)]));
  const corrupt = await checkArtifact(store, { ...artifact, storedSize: 6000 });
  t.equal(corrupt.ok, false, 'a damaged .zst does not verify');
  t.equal(corrupt.failed, undefined, 'and it is a verdict on the object, not a read failure');
});

t.test('a runtime without zstd: POSTMORTEM_COMPRESSION=zstd falls back to gzip with one line', async (t) => {
  if (thisNodeHasZstd) return skipOrFailInCi(t, `this test runner's Node.js ${process.version} has zstd: no runtime without it to run on`);
  const lines: string[] = [];
  const log = { info: (l: string) => lines.push(`info ${l}`), warn: (l: string) => lines.push(`warn ${l}`) };
  t.equal(usableCompression('zstd', log), 'gzip');
  t.same(lines, [`warn POSTMORTEM_COMPRESSION=zstd, but this Node.js ${process.version} has no zstd (it needs >= 22.15): compressing with gzip instead`]);
  t.equal(usableCompression('gzip', log), 'gzip', 'gzip asked, gzip used');
  t.equal(lines.length, 1, 'and nothing said about it');
  // Had anything passed zstd on regardless, the store would say why instead of storing garbage.
  const store = createFileStore({ kind: 'file', root: await tempDir('pm-zstd-none-'), prefix: '', source: 'test' });
  await t.rejects(storeArtifact(store, 'crash', { name: 'core', source: Readable.from([Buffer.alloc(1000, 1)]), contentType: 'application/octet-stream', encoding: 'compress', compression: 'zstd' }),
    /zstd of block 0 .* has no zstd \(zlib\.\w+ needs >= 22\.15\)/);
});
