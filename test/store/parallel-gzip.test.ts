// ParallelCompress: blocks gzipped on the thread pool, emitted in order, in fixed memory. Outputs are
// checked by gzip(1) itself (gzip -t, zcat), not by our own reader; the last test stores through
// the pipeline into the run's Ceph RGW and reads the object back with a plain S3 client.
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzip } from 'node:zlib';
import t from 'tap';
import { ParallelCompress, type CompressBlock } from '../../src/store/parallel-compress.ts';
import { storeArtifact } from '../../src/store/pipeline.ts';
import { s3ClientConfig, createS3Store } from '../../src/store/s3-store.ts';
import { rgwForThisFile } from '../support/rgw/for-tests.ts';
import { uniqueBucketName } from '../support/s3-server.ts';
import { tempDir } from '../support/temp.ts';
import { MiB, collect, dataChunks, sha256, type DataKind } from './fixtures/data.ts';

const BLOCK = 64 * 1024; // the smallest block allowed: many blocks from little data
const dir = await tempDir('postmortem-pgzip-');

/** Source chunks of 10 000 bytes, so blocks never line up with chunks. */
function source(size: number, kind: DataKind, seed = 1): Readable {
  return Readable.from(dataChunks(size, kind, seed, 10_000), { objectMode: false });
}

/** sha256 of what source() makes, computed separately. */
function expected(size: number, kind: DataKind, seed = 1): string {
  const hash = createHash('sha256');
  for (const chunk of dataChunks(size, kind, seed, 10_000)) hash.update(chunk);
  return hash.digest('hex');
}

/** gzip(1)'s verdict on `gz`: `gzip -t` passes, and the sha256 and length of what zcat prints. */
async function byGzip(gz: Buffer, name: string): Promise<{ sha256: string; bytes: number }> {
  const file = path.join(dir, `${name}.gz`);
  await writeFile(file, gz);
  await execa('gzip', ['-t', file]);
  const plain = await execa('zcat', [file], { encoding: 'buffer', stripFinalNewline: false });
  return { sha256: sha256(Buffer.from(plain.stdout)), bytes: plain.stdout.length };
}

for (const kind of ['random', 'heapish'] as const) {
  for (const size of [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 7 * BLOCK + 4321]) {
    t.test(`${kind} ${size} bytes: gzip -t passes, zcat gives the exact input`, async (t) => {
      const tap = new ParallelCompress({ blockSize: BLOCK, concurrency: 3 });
      const gz = await collect(source(size, kind).pipe(tap));
      t.same(await byGzip(gz, `${kind}-${size}`), { sha256: expected(size, kind), bytes: size });
      t.ok(tap.usage.blockBuffers <= tap.maxBlockBuffers, `${tap.usage.blockBuffers} block buffers <= ${tap.maxBlockBuffers}`);
      // One engine per block in flight, reused: never more than the concurrency, all closed at the end.
      t.ok(tap.usage.engines >= 1 && tap.usage.engines <= 3, `${tap.usage.engines} engines for ${Math.max(1, Math.ceil(size / BLOCK))} blocks`);
      t.equal(tap.usage.openEngines, 0, 'every engine closed once the stream ended');
      if (kind === 'heapish' && size > BLOCK) t.ok(gz.length < size / 2, `compressed to ${gz.length} of ${size}`);
    });
  }
}

/** Blocks that alternate incompressible and compressible content: uneven compress times. */
function alternating(blocks: number): Buffer {
  return Buffer.concat(Array.from({ length: blocks }, (_, i) => Buffer.concat([...dataChunks(BLOCK, i % 2 ? 'heapish' : 'random', i + 1)])));
}

t.test('order is kept when blocks finish out of order (alternating random / compressible blocks)', async (t) => {
  const input = alternating(16);
  let finishedOutOfOrder = 0;
  let lastDone = -1;
  let index = 0;
  const watched: CompressBlock = (block, options, done) => {
    const mine = index++;
    gzip(block, options, (error, member) => {
      if (mine < lastDone) finishedOutOfOrder++;
      lastDone = Math.max(lastDone, mine);
      done(error, member);
    });
  };
  const gz = await collect(Readable.from([input]).pipe(new ParallelCompress({ blockSize: BLOCK, concurrency: 4, compress: watched })));
  t.same(await byGzip(gz, 'alternating'), { sha256: sha256(input), bytes: input.length });
  t.comment(`${finishedOutOfOrder} of 16 blocks finished after a later one`);
});

/**
 * Real zlib compresses every block; only the hand-back of block 0 is held until release(),
 * an order real timing produces only sometimes. The others are handed back at once.
 */
function firstHeldBack(): { compress: CompressBlock; calls(): number; othersBack(): number; firstDone(): boolean; release(): void } {
  let calls = 0;
  let othersBack = 0;
  let first: (() => void) | undefined;
  let released = false;
  const handBack = () => {
    if (released && first) first();
  };
  return {
    compress: (block, options, done) => {
      const mine = calls++;
      gzip(block, options, (error, member) => {
        if (mine !== 0) {
          othersBack++;
          done(error, member);
          return;
        }
        first = () => done(error, member);
        handBack();
      });
    },
    calls: () => calls,
    othersBack: () => othersBack,
    firstDone: () => first !== undefined,
    release: () => {
      released = true;
      handBack();
    },
  };
}

t.test('order is kept when the first block finishes last (held back on purpose)', async (t) => {
  const input = alternating(6);
  const held = firstHeldBack();
  const tap = new ParallelCompress({ blockSize: BLOCK, concurrency: 6, compress: held.compress });
  const seen: number[] = [];
  tap.on('data', (member: Buffer) => seen.push(gunzipSync(member).length));
  tap.end(input);
  await until(() => held.othersBack() === 5, 'blocks 1-5 are back');
  t.equal(seen.length, 0, 'nothing emitted before block 0');
  held.release();
  await new Promise((resolve, reject) => tap.on('end', resolve).on('error', reject));
  t.equal(tap.usage.peakInFlight, 6, 'all six blocks were compressing at once');
  t.same(seen, [BLOCK, BLOCK, BLOCK, BLOCK, BLOCK, BLOCK], 'one member per block, in order');
});

t.test('a slow block holds back the ones after it: no pile of finished members behind it', async (t) => {
  const input = alternating(10);
  const held = firstHeldBack();
  const tap = new ParallelCompress({ blockSize: BLOCK, concurrency: 2, compress: held.compress });
  const out = collect(tap);
  tap.end(input);
  await until(() => held.firstDone() && held.othersBack() === 2, 'blocks 1 and 2 are back while block 0 is still out');
  for (let turn = 0; turn < 20; turn++) await new Promise((r) => setImmediate(r));
  t.equal(held.calls(), 3, 'no further block started: its buffer is taken until block 0 is emitted');
  held.release();
  t.equal(sha256(gunzipSync(await out)), sha256(input), 'then everything, in order');
});

t.test('consumed: each written chunk once its bytes are all in blocks, also when it waited for a buffer', async (t) => {
  const input = alternating(10);
  const held = firstHeldBack();
  const consumed: Buffer[] = [];
  // Chunks larger than a block, so one chunk waits for a block buffer part-way through.
  const chunks: Buffer[] = Array.from({ length: 5 }, (_, i) => Buffer.from(input.subarray(i * 2 * BLOCK, (i + 1) * 2 * BLOCK)));
  const tap = new ParallelCompress({
    blockSize: BLOCK, concurrency: 2, compress: held.compress,
    consumed: (chunk) => { consumed.push(chunk); chunk.fill(0xee); }, // overwritten as a reader would
  });
  const out = collect(tap);
  const written = (async () => { for (const chunk of chunks) if (!tap.write(chunk)) await new Promise((r) => tap.once('drain', r)); tap.end(); })();
  await until(() => held.firstDone() && held.othersBack() === 2, 'block 0 held, blocks 1 and 2 back');
  t.ok(consumed.length < 2, `chunk 1 is not consumed while it waits for a block buffer (${consumed.length} consumed)`);
  held.release();
  await written;
  t.equal(sha256(gunzipSync(await out)), sha256(input), 'output is the input as written, not the overwritten chunks');
  t.same(consumed.map((c) => chunks.indexOf(c)), [0, 1, 2, 3, 4], 'every chunk once, in order');
});

t.test('memory: never more than concurrency + 1 block buffers, output held to about one block', async (t) => {
  const concurrency = 3;
  const tap = new ParallelCompress({ blockSize: BLOCK, concurrency });
  const size = 40 * BLOCK;
  let read = 0;
  let members = 0;
  let pulled = 0;
  let aheadMost = 0;
  const counted = Readable.from((function* () {
    for (const chunk of dataChunks(size, 'random', 9, 10_000)) {
      pulled += chunk.length;
      aheadMost = Math.max(aheadMost, pulled - members * BLOCK); // content taken in, not yet out
      yield chunk;
    }
  })(), { objectMode: false });
  // A slow consumer: one turn of the event loop per member, so the input is held back.
  const slow = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, callback) {
      read += chunk.length;
      members++;
      setImmediate(callback);
    },
  });
  await pipeline(counted, tap, slow);
  const u = tap.usage;
  t.comment(JSON.stringify(u));
  t.equal(tap.maxBlockBuffers, concurrency + 1);
  t.ok(u.blockBuffers <= concurrency + 1 && u.peakBlocksInUse <= concurrency + 1, `${u.blockBuffers} buffers, ${u.peakBlocksInUse} in use at most <= ${concurrency + 1}`);
  t.equal(u.peakInFlight, concurrency, 'the pool was used to its width');
  // Random data: a member is the block plus deflate's stored-block overhead (5 bytes / 16 KiB) + 18.
  // Held: below the readable side's high-water mark (one block) when the last input was taken,
  // then the blocks still out at that moment (concurrency + 1) may all land on top.
  const member = BLOCK + 64;
  const outputBound = BLOCK + (concurrency + 1) * member;
  t.ok(u.peakOutputBytes <= outputBound, `${u.peakOutputBytes} compressed bytes held <= ${outputBound}: one block of readable buffer + ${concurrency + 1} members`);
  t.ok(read > size, 'all of it came out (random data grows slightly)');
  // Held back: the block buffers, the compressed output above (for random data each member is
  // about a block of content) and the streams' own small buffers; without back-pressure this
  // would be all 40 blocks.
  const bound = (concurrency + 1) * BLOCK + outputBound + 64 * 1024;
  t.ok(aheadMost <= bound, `content taken in but not yet out: at most ${aheadMost} <= ${bound} bytes`);
});

t.test('a failed block compress fails the stream, naming the block, and emits no end', async (t) => {
  let calls = 0;
  const failsThird: CompressBlock = (block, options, done) => {
    // Injected failure: real zlib does not fail on valid input at a valid level.
    if (calls++ === 2) setImmediate(() => done(new Error('injected'), Buffer.alloc(0)));
    else gzip(block, options, done);
  };
  const tap = new ParallelCompress({ blockSize: BLOCK, concurrency: 2, compress: failsThird });
  let ended = false;
  tap.on('end', () => (ended = true));
  await t.rejects(pipeline(source(10 * BLOCK, 'heapish'), tap, new Writable({ write: (_c, _e, cb) => cb() })), {
    message: `gzip of block 2 (${BLOCK} bytes at offset ${2 * BLOCK}) failed: injected`,
  });
  t.equal(ended, false, 'the output never ends as if complete');
});

t.test('destroy mid-way: no more output, no end, late results dropped', async (t) => {
  const held = new Map<number, () => void>();
  let calls = 0;
  const holds: CompressBlock = (block, options, done) => {
    const mine = calls++;
    gzip(block, options, (error, member) => held.set(mine, () => done(error, member)));
  };
  const tap = new ParallelCompress({ blockSize: BLOCK, concurrency: 2, compress: holds });
  const members: Buffer[] = [];
  let ended = false;
  tap.on('data', (m: Buffer) => members.push(m));
  tap.on('end', () => (ended = true));
  tap.on('error', () => {});
  tap.write(alternating(5));
  await until(() => held.size === 2, 'two blocks compressed, waiting to hand back');
  held.get(0)?.();
  await until(() => members.length === 1, 'the first member came out');
  const closed = new Promise((resolve) => tap.on('close', resolve));
  tap.destroy(new Error('consumer gone'));
  await closed;
  held.get(1)?.(); // a compress that returns after destroy
  await new Promise((r) => setImmediate(r));
  t.equal(members.length, 1, 'nothing emitted after destroy');
  t.equal(ended, false, 'never ends as if complete');
  t.equal(calls, 3, 'the block freed by the first member was taken up; nothing after destroy');
});

t.test('destroyed half way, the real engines are closed too', async (t) => {
  const tap = new ParallelCompress({ blockSize: BLOCK, concurrency: 2 });
  const members: Buffer[] = [];
  tap.on('data', (m: Buffer) => members.push(m));
  tap.on('error', () => {});
  tap.write(alternating(6));
  await until(() => members.length >= 1, 'a member came out');
  t.equal(tap.usage.openEngines, tap.usage.engines, `${tap.usage.engines} engines open while it runs`);
  const closed = new Promise((resolve) => tap.on('close', resolve));
  tap.destroy(new Error('consumer gone'));
  await closed;
  t.equal(tap.usage.openEngines, 0, 'none left open after destroy');
});

/** Polls `done` each turn of the event loop, up to 10 s. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

t.test('bad options are refused, naming the option', async (t) => {
  t.throws(() => new ParallelCompress({ level: 0 }), /level must be an integer 1-9 \(gzipLevel\), got 0/);
  t.throws(() => new ParallelCompress({ blockSize: 1000 }), /blockSize must be an integer >= 65536 bytes, got 1000/);
  t.throws(() => new ParallelCompress({ concurrency: 0 }), /concurrency must be an integer >= 1, got 0/);
});

const server = await rgwForThisFile(t);
if (server) {
  t.test('storeArtifact compress into Ceph RGW: the object gunzips (zcat) to the content sha256 reported', async (t) => {
    const bucket = uniqueBucketName('postmortem-pgzip');
    await server.createBucket(bucket);
    const store = createS3Store(server.target(bucket), { partSize: 5 * MiB, queueSize: 2 });
    t.teardown(() => store.close());
    const client = new S3Client(s3ClientConfig(server.target(bucket)));
    t.teardown(() => client.destroy());
    const size = 12 * MiB + 17; // several default-size blocks and a short tail
    const record = await storeArtifact(store, 'pgzip/crash', { name: 'heap.hprof', source: source(size, 'heapish', 5), contentType: 'application/octet-stream', encoding: 'compress' });
    const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: record.key }));
    const gz = Buffer.from(await object.Body!.transformToByteArray());
    t.same(await byGzip(gz, 'rgw'), { sha256: expected(size, 'heapish', 5), bytes: size }, 'zcat of the object = the source');
    t.equal(record.sha256, expected(size, 'heapish', 5), 'reported content sha256 = the source');
    t.equal(record.storedSha256, sha256(gz), 'reported stored sha256 = the object');
    t.ok(gz.length < size / 2, `stored ${gz.length} of ${size} bytes`);
  });
}
