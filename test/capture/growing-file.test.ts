// A real writer process appends to a file while we read it; nothing may be lost, and
// reading must start before the writer is done.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { followGrowingFile } from '../../src/capture/growing-file.ts';
import { HolePuncher, PUNCH_ALIGN } from '../../src/capture/hole-punch.ts';
import { isOpen } from '../support/open-files.ts';
import { tempDir } from '../support/temp.ts';

const WRITER = `
const fs = require('node:fs');
const fd = fs.openSync(process.argv[1], 'a');
let i = 0;
const timer = setInterval(() => {
  const chunk = Buffer.alloc(300 * 1024 + i, i % 251);
  fs.writeSync(fd, chunk);
  if (++i === 20) { clearInterval(timer); fs.closeSync(fd); }
}, 25);
`;

t.test('follows a file written front to back by another process', async (t) => {
  const dir = await tempDir('pm-grow-');
  const file = path.join(dir, 'java_pid1.hprof');
  await writeFile(file, '');
  const writer = execa(process.execPath, ['-e', WRITER, file]);
  const followed = followGrowingFile(file, { chunkSize: 64 * 1024 });
  const hash = createHash('sha256');
  let bytesWhileWriting = 0;
  let writing = true;
  void writer.then(() => { writing = false; followed.complete(); });
  for await (const chunk of followed.stream) {
    if (writing) bytesWhileWriting += chunk.length;
    hash.update(chunk);
  }
  await writer;
  const expected = createHash('sha256').update(await readFile(file)).digest('hex');
  t.equal(hash.digest('hex'), expected, 'every byte, in order');
  t.ok(bytesWhileWriting > 0, `read ${bytesWhileWriting} bytes before the writer finished`);
});

t.test('a writer gone quiet without a completion signal ends the stream with a warning', async (t) => {
  const dir = await tempDir('pm-grow-');
  const file = path.join(dir, 'core');
  await writeFile(file, 'partial');
  let quiet = false;
  const followed = followGrowingFile(file, { quietMs: 300, recheckMs: 50, onQuiet: () => { quiet = true; } });
  const chunks: Buffer[] = [];
  for await (const chunk of followed.stream) chunks.push(chunk);
  t.equal(Buffer.concat(chunks).toString(), 'partial');
  t.ok(quiet, 'onQuiet was called');
});

// Known bytes, never zero (a punched range reads as zeros): chunk k is 1 MiB of the byte k % 250 + 1.
const KNOWN_WRITER = `
const fs = require('node:fs');
const fd = fs.openSync(process.argv[1], 'a');
let k = 0;
const timer = setInterval(() => {
  fs.writeSync(fd, Buffer.alloc(1 << 20, (k % 250) + 1));
  if (++k === Number(process.argv[2])) { clearInterval(timer); fs.closeSync(fd); }
}, 5);
`;

function knownBytes(chunks: number): Buffer {
  return Buffer.concat(Array.from({ length: chunks }, (_, k) => Buffer.alloc(1 << 20, (k % 250) + 1)));
}

async function followWhileWritten(t: Test, chunks: number, puncher: HolePuncher) {
  const dir = await tempDir('pm-punch-');
  const file = path.join(dir, 'java_pid1.hprof');
  await writeFile(file, '');
  const writer = execa(process.execPath, ['-e', KNOWN_WRITER, file, String(chunks)]);
  const followed = followGrowingFile(file, { chunkSize: 256 * 1024, punch: puncher });
  void writer.then(() => followed.complete());
  const hash = createHash('sha256');
  for await (const chunk of followed.stream) hash.update(chunk);
  await writer;
  t.equal(hash.digest('hex'), createHash('sha256').update(knownBytes(chunks)).digest('hex'), 'every byte delivered, in order');
  return { file, followed, info: await stat(file) };
}

t.test('punching behind the reader: every byte delivered, the read part freed, the size kept', async (t) => {
  const chunks = 40;
  let unavailable = 0;
  const puncher = new HolePuncher({ everyBytes: 4 << 20, onUnavailable: () => { unavailable++; } });
  const { file, followed, info } = await followWhileWritten(t, chunks, puncher);
  const { punched, peakAllocated } = followed.disk();
  t.equal(unavailable, 0, 'fallocate punched');
  t.equal(info.size, chunks << 20, 'file size unchanged');
  t.ok(punched >= (chunks - 8) << 20, `punched ${punched} bytes of ${info.size}`);
  t.equal(punched % PUNCH_ALIGN, 0, 'punched up to a block boundary');
  t.ok(info.blocks * 512 <= info.size - punched + (1 << 20), `allocated ${info.blocks * 512} bytes after punching ${punched} of ${info.size}`);
  t.ok(peakAllocated > 0 && peakAllocated <= info.size + (1 << 20), `peak allocated ${peakAllocated}`);
  // The punched range is a hole: it reads as zeros now, never a byte the writer wrote.
  const head = Buffer.alloc(4096);
  const handle = await open(file, 'r');
  await handle.read(head, 0, head.length, 0);
  await handle.close();
  t.ok(head.every((b) => b === 0), 'the first block reads as zeros (a hole)');
});

t.test('without fallocate on PATH: one notice, every byte still delivered, nothing punched', async (t) => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  t.teardown(() => { process.env.PATH = saved; });
  const reasons: string[] = [];
  const puncher = new HolePuncher({ everyBytes: 1 << 20, onUnavailable: (reason) => reasons.push(reason) });
  const { followed, info } = await followWhileWritten(t, 12, puncher);
  t.same(reasons, ['fallocate (util-linux) is not on PATH'], 'said once');
  t.equal(followed.disk().punched, 0);
  t.ok(info.blocks * 512 >= info.size, 'the file is whole on disk');
});

t.test('released chunks are read into again: a few buffers in all, every byte in order', async (t) => {
  const dir = await tempDir('pm-grow-');
  const file = path.join(dir, 'java_pid1.hprof');
  await writeFile(file, '');
  const chunks = 12; // MiB, while it is being written
  const writer = execa(process.execPath, ['-e', KNOWN_WRITER, file, String(chunks)]);
  const followed = followGrowingFile(file, { chunkSize: 64 * 1024 });
  void writer.then(() => followed.complete());
  const hash = createHash('sha256');
  const memories = new Set<ArrayBufferLike>();
  let reads = 0;
  for await (const chunk of followed.stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    memories.add(chunk.buffer);
    reads++;
    followed.release(chunk);
    followed.release(chunk); // twice: ignored
    followed.release(Buffer.alloc(16)); // not ours: ignored
  }
  await writer;
  t.equal(hash.digest('hex'), createHash('sha256').update(knownBytes(chunks)).digest('hex'), 'every byte, in order');
  t.ok(reads >= chunks * 16, `${reads} reads of 64 KiB`);
  // Held at once: the chunk in hand, the one Readable.from buffers ahead, the one being read.
  t.ok(memories.size <= 4, `${memories.size} read buffers for ${reads} reads`);
});

t.test('without releases every read has its own buffer (nothing is read into a chunk still held)', async (t) => {
  const dir = await tempDir('pm-grow-');
  const file = path.join(dir, 'core');
  await writeFile(file, knownBytes(2));
  const followed = followGrowingFile(file, { chunkSize: 64 * 1024 });
  followed.complete();
  const held: Buffer[] = [];
  for await (const chunk of followed.stream as AsyncIterable<Buffer>) held.push(chunk);
  t.equal(new Set(held.map((c) => c.buffer)).size, held.length, `${held.length} chunks, as many buffers`);
  t.ok(Buffer.concat(held).equals(knownBytes(2)), 'held chunks unchanged by later reads');
});

t.test('started(): false until the consumer asks, true once a read returned even with nothing in the file', async (t) => {
  const dir = await tempDir('pm-grow-');
  const file = path.join(dir, 'java_pid1.hprof');
  await writeFile(file, '');
  const followed = followGrowingFile(file, { recheckMs: 50 });
  t.teardown(() => followed.stream.destroy());
  await new Promise((r) => setTimeout(r, 100));
  t.equal(followed.started(), false, 'nobody read: nothing started (the stream does not read ahead of its consumer)');
  const chunks: Buffer[] = [];
  followed.stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  const until = Date.now() + 2000;
  while (!followed.started() && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  t.equal(followed.started(), true, 'the first read returned');
  t.equal(followed.handedOn(), 0, 'with nothing to hand on: the file is empty');
  await writeFile(file, 'abc');
  followed.complete();
  await new Promise((r) => followed.stream.once('end', r));
  t.equal(Buffer.concat(chunks).toString(), 'abc', 'and what came later is read');
});

t.test('destroyed while the writer has stalled (a deadline): the file is closed at once, not at the next growth', async (t) => {
  const dir = await tempDir('pm-grow-');
  const file = path.join(dir, 'java_pid1.hprof');
  await writeFile(file, Buffer.alloc(100 * 1024, 7));
  // Rechecks far apart and no completion: only the destroy can end the wait.
  const followed = followGrowingFile(file, { recheckMs: 60_000, quietMs: 600_000 });
  let read = 0;
  followed.stream.on('data', (chunk: Buffer) => { read += chunk.length; });
  while (read < 100 * 1024) await new Promise((r) => setTimeout(r, 10));
  t.ok(await isOpen(file), 'open while it waits for the writer');
  followed.stream.on('error', () => {}); // the destroy's own error
  const closed = new Promise((resolve) => followed.stream.once('close', () => resolve('closed')));
  const destroyedAt = Date.now();
  followed.stream.destroy(new Error('deadline'));
  const outcome = await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000, 'still open after 2 s'))]);
  t.equal(outcome, 'closed', `closed ${Date.now() - destroyedAt} ms after the destroy`);
  t.notOk(await isOpen(file), 'the file descriptor is closed');
});
