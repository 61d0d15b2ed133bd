// Output slabs: compressed members written into memory the compressor owns and lends to the
// end of the pipeline, which gives each piece back once copied (output-slabs.ts). What must
// hold: the bytes are exactly what they would be without slabs; a piece still out is never
// written over (a consumer holding pieces sees them unchanged at the end); the slabs stay
// within their bound; pieces given back let the same slabs be used again; a consumer that
// never gives back only costs the reuse, never a byte; the S3 multipart writer gives back
// what it copied (real RGW).
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import t from 'tap';
import { BlockEngine } from '../../src/store/block-engine.ts';
import { blockOutputSize, codecOf } from '../../src/store/codecs.ts';
import { Slab, SlabSet, giveBack } from '../../src/store/output-slabs.ts';
import { ParallelCompress } from '../../src/store/parallel-compress.ts';
import { HashTap } from '../../src/store/taps.ts';
import { createFileStore } from '../../src/store/file-store.ts';
import { createS3Store } from '../../src/store/s3-store.ts';
import { startS3Server, uniqueBucketName } from '../support/s3-server.ts';
import { MiB, dataChunks } from './fixtures/data.ts';

const gzip = codecOf('gzip');

/** Runs `input` through a ParallelCompress into a consumer that gives pieces back (or not) as told. */
async function compressAll(input: Buffer, opts: { giveBackAfterMs?: number; hold?: boolean; concurrency?: number }) {
  const compressor = new ParallelCompress({ concurrency: opts.concurrency ?? 2 });
  const pieces: { piece: Buffer; sha: string }[] = [];
  const bufferIds = new Set<ArrayBufferLike>();
  const sink = new Writable({
    write(piece: Buffer, _encoding, callback) {
      const copy = Buffer.from(piece); // what a part would get
      pieces.push({ piece: opts.hold ? piece : copy, sha: createHash('sha256').update(piece).digest('hex') });
      bufferIds.add(piece.buffer);
      if (opts.hold) { callback(); return; }
      if (opts.giveBackAfterMs === undefined) { giveBack(piece); callback(); return; }
      setTimeout(() => { giveBack(piece); callback(); }, opts.giveBackAfterMs);
    },
  });
  await pipeline(Readable.from(chunksOf(input, 256 * 1024)), compressor, sink);
  return { compressor, pieces, bufferIds, output: Buffer.concat(pieces.map((p) => p.piece)) };
}

function* chunksOf(buffer: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < buffer.length; at += size) yield Buffer.from(buffer.subarray(at, at + size));
}

const input = Buffer.concat([...dataChunks(24 * MiB, 'heapish', 7)]);

t.test('pieces given back at once: exact output, few slabs, used again and again', async (t) => {
  const { compressor, output, bufferIds } = await compressAll(input, {});
  t.ok(gunzipSync(output).equals(input), `${output.length} bytes decompress to the exact ${input.length} input bytes`);
  const usage = compressor.usage;
  t.ok(usage.outputSlabs >= 1 && usage.outputSlabs <= compressor.maxOutputSlabs, `${usage.outputSlabs} slabs made for 24 blocks (at most ${compressor.maxOutputSlabs})`);
  t.ok(usage.outputSlabs < 24, 'slabs were used again: fewer than one per block');
  // Without slabs every engine's output buffer is replaced once full: many distinct buffers.
  t.ok(bufferIds.size <= usage.outputSlabs + usage.engines, `the pieces came from ${bufferIds.size} distinct buffers: the slabs (and at most the engines' own)`);
});

t.test('pieces given back late (a slow store): never written over while out, slabs bounded', async (t) => {
  const { compressor, pieces, output } = await compressAll(input, { giveBackAfterMs: 15 });
  t.ok(gunzipSync(output).equals(input), 'exact output');
  for (const { piece, sha } of pieces) {
    // The sink copied each piece at arrival; the copy's hash is the piece's at arrival.
    if (createHash('sha256').update(piece).digest('hex') !== sha) { t.fail('a piece changed after it was handed on'); return; }
  }
  t.ok(compressor.usage.peakOutputSlabsOut <= compressor.maxOutputSlabs, `peak slabs out ${compressor.usage.peakOutputSlabsOut} <= ${compressor.maxOutputSlabs}`);
});

t.test('a consumer that never gives back: the pieces it holds stay intact, output exact, slabs stop at the bound', async (t) => {
  const { compressor, pieces, output } = await compressAll(input, { hold: true });
  t.equal(compressor.usage.outputSlabs, compressor.maxOutputSlabs, 'every slab was made, then no more');
  let changed = 0;
  for (const { piece, sha } of pieces) if (createHash('sha256').update(piece).digest('hex') !== sha) changed++;
  t.equal(changed, 0, `all ${pieces.length} held pieces still hold what they held on arrival (zlib went back to its own buffers once the slabs were out)`);
  t.ok(gunzipSync(output).equals(input), 'the held pieces are the exact output');
});

t.test('BlockEngine with and without a slab, in any order: each member is gzipSync of its block', async (t) => {
  const size = blockOutputSize(MiB);
  const engine = new BlockEngine(gzip, gzip.blockOptions(1, size));
  const freed: Slab[] = [];
  const slabs = [new Slab(Buffer.allocUnsafeSlow(size), (s) => freed.push(s)), new Slab(Buffer.allocUnsafeSlow(size), (s) => freed.push(s))];
  const blocks = [0, 1, 2, 3, 4, 5].map((i) => Buffer.concat([...dataChunks(MiB, i % 2 ? 'random' : 'heapish', i + 1)]));
  const plan: (Slab | undefined)[] = [slabs[0], undefined, slabs[1], undefined, undefined, slabs[0]];
  const held: Buffer[][] = [];
  for (const [i, block] of blocks.entries()) {
    const slab = plan[i];
    if (i === 5) for (const piece of held[0]!) giveBack(piece); // slab 0 back before it is used again
    const pieces = await new Promise<readonly Buffer[]>((resolve, reject) => engine.compress(block, (e, p) => (e ? reject(e) : resolve(p)), slab));
    held.push([...pieces]);
    t.ok(Buffer.concat(pieces).equals(gzipSync(block, gzip.blockOptions(1, size))), `block ${i} (${slab ? 'slab' : 'own buffer'}) equals gzipSync`);
    if (slab) t.ok(pieces.every((p) => slab.holds(p)), `block ${i}: its pieces are views of the slab`);
    else t.ok(pieces.every((p) => !slabs.some((s) => s.holds(p))), `block ${i}: never written into a slab that is lent out`);
  }
  // Every member still held is intact: nothing was written over a piece still out. Block 0's
  // pieces were given back, and slab 0 then took block 5: they now show block 5's bytes.
  t.ok(held[0]![0]!.equals(held[5]![0]!.subarray(0, held[0]![0]!.length)), "block 0's given-back memory now holds block 5's member: the slab was used again");
  for (const [i, pieces] of held.entries()) if (i > 0) t.ok(Buffer.concat(pieces).equals(gzipSync(blocks[i]!, gzip.blockOptions(1, size))), `block ${i}'s pieces intact at the end`);
  t.equal(freed.length, 1, 'only the slab whose pieces were all given back came free');
  giveBack(held[0]![0]!); // a second give-back of the same piece is ignored
  t.equal(freed.length, 1, 'a piece given back twice frees nothing more');
  // Right after a slab block, a slab of the wrong size is refused (freed at once) and zlib
  // goes back to its own buffer: the lent slab 0 is never written into again.
  const odd = new Slab(Buffer.allocUnsafeSlow(size - 1), (s) => freed.push(s));
  const extra = Buffer.concat([...dataChunks(MiB, 'heapish', 11)]);
  const pieces = await new Promise<readonly Buffer[]>((resolve, reject) => engine.compress(extra, (e, p) => (e ? reject(e) : resolve(p)), odd));
  t.ok(Buffer.concat(pieces).equals(gzipSync(extra, gzip.blockOptions(1, size))), 'that block is still exact');
  t.equal(freed.at(-1), odd, 'the odd-sized slab came free at once');
  t.ok(pieces.every((p) => !slabs.some((s) => s.holds(p)) && !odd.holds(p)), 'written into zlib\'s own buffer');
  t.ok(Buffer.concat(held[5]!).equals(gzipSync(blocks[5]!, gzip.blockOptions(1, size))), 'block 5, still out on slab 0, is intact');
  engine.close();
});

t.test('SlabSet: made on need, at most count, a slab comes back once all its pieces are back', async (t) => {
  const set = new SlabSet(1024, 2);
  const a = set.take()!;
  const b = set.take()!;
  t.not(a, b);
  t.equal(set.take(), undefined, 'none beyond count');
  t.equal(set.out, 2);
  a.lend([]);
  t.equal(set.out, 1, 'a slab lent with no pieces is free at once');
  t.equal(set.take(), a, 'and taken again');
  const [p1, p2] = [b.buffer.subarray(0, 10), b.buffer.subarray(10, 20)];
  b.lend([p1, p2]);
  giveBack(p1);
  t.equal(set.out, 2, 'one of two pieces back: still out');
  giveBack(p1);
  t.equal(set.out, 2, 'the same piece back twice counts once');
  giveBack(p2);
  t.equal(set.out, 1, 'all back: free again');
  t.equal(set.take(), b, 'and taken again');
  giveBack(Buffer.alloc(3)); // never lent: ignored
  t.equal(set.out, 2);
  t.equal(set.peakOut, 2);
  t.equal(set.made, 2, 'two slabs made in all');
});

t.test('the S3 multipart writer gives each piece back once it is in a part (real RGW)', async (t) => {
  const server = await startS3Server({ kind: 'best' });
  t.teardown(() => server.stop());
  const bucket = uniqueBucketName('postmortem-slabs');
  await server.createBucket(bucket);
  const store = createS3Store(server.target(bucket), { partSize: 5 * MiB, queueSize: 2 });
  t.teardown(() => store.close());
  const compressor = new ParallelCompress({ concurrency: 2 });
  // As pipeline.ts lays it out: the stored bytes' hash tap last, passing pieces on as they came.
  const body = Readable.from(chunksOf(input, 256 * 1024)).pipe(compressor).pipe(new HashTap(undefined, undefined, { keepPieces: true }));
  await store.put({ key: 'slabs/heap.hprof.gz', contentType: 'application/gzip', body });
  const stored: Buffer[] = [];
  for await (const piece of await store.get('slabs/heap.hprof.gz')) stored.push(piece as Buffer);
  t.ok(gunzipSync(Buffer.concat(stored)).equals(input), 'the stored object decompresses to the exact input');
  const usage = compressor.usage;
  t.ok(usage.outputSlabs < compressor.maxOutputSlabs, `${usage.outputSlabs} slabs made for 24 blocks, fewer than the ${compressor.maxOutputSlabs} a consumer that never gives back would use up`);
});

t.test('the folder store gives each piece back once it is written', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'postmortem-slabs-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const store = createFileStore({ kind: 'file', root, prefix: '', source: 'test' });
  const compressor = new ParallelCompress({ concurrency: 2 });
  const body = Readable.from(chunksOf(input, 256 * 1024)).pipe(compressor).pipe(new HashTap(undefined, undefined, { keepPieces: true }));
  const put = await store.put({ key: 'slabs/heap.hprof.gz', contentType: 'application/gzip', body });
  t.ok(gunzipSync(await readFile(put.location)).equals(input), 'the file decompresses to the exact input');
  t.ok(compressor.usage.outputSlabs < compressor.maxOutputSlabs, `${compressor.usage.outputSlabs} slabs made for 24 blocks, fewer than the ${compressor.maxOutputSlabs} a consumer that never gives back would use up`);
});
