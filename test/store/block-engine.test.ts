// BlockEngine: one zlib engine reused block after block (flushed to a complete member, then
// reset) instead of a new engine per block. What must hold: each member is byte for byte what
// a fresh gzip of that block gives (nothing carries over from the block before), blocks are
// taken one at a time, and a failing or closed engine answers with an error instead of
// hanging. zstd's frames are checked on the vendored runtime (zstd.test.ts: one frame per
// block, `zstd -t`), since this runner's Node.js 20 has no zstd.
import { Transform, type TransformCallback } from 'node:stream';
import { constants, gunzipSync, gzipSync } from 'node:zlib';
import t from 'tap';
import { BlockEngine } from '../../src/store/block-engine.ts';
import { blockOutputSize, codecOf, type Codec, type EngineStream } from '../../src/store/codecs.ts';
import { MiB, dataChunks } from './fixtures/data.ts';

const gzipCodec = codecOf('gzip');

function compress(engine: BlockEngine, block: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    engine.compress(block, (error, pieces) => (error ? reject(error) : resolve(Buffer.concat(pieces))));
  });
}

const blocks = [
  Buffer.concat([...dataChunks(MiB, 'heapish', 1)]),
  Buffer.concat([...dataChunks(MiB, 'random', 2)]),
  Buffer.alloc(0),
  Buffer.from('x'),
  Buffer.concat([...dataChunks(MiB, 'heapish', 1)]), // the same bytes again: no back-references into the first
  Buffer.concat([...dataChunks(300_000, 'heapish', 3)]),
];

for (const level of [1, 6]) {
  t.test(`level ${level}: each member of a reused engine is what a fresh gzip makes of that block`, async (t) => {
    const options = gzipCodec.blockOptions(level, blockOutputSize(MiB));
    const engine = new BlockEngine(gzipCodec, options);
    for (const [i, block] of blocks.entries()) {
      const member = await compress(engine, block);
      t.ok(member.equals(gzipSync(block, options)), `block ${i} (${block.length} bytes): ${member.length} bytes, the same as a fresh gzipSync with the same settings`);
      t.ok(gunzipSync(member).equals(block), `block ${i} decompresses alone to itself`);
    }
    engine.close();
  });
}

t.test('one block at a time', async (t) => {
  const engine = new BlockEngine(gzipCodec, gzipCodec.blockOptions(1, blockOutputSize(MiB)));
  const first = compress(engine, blocks[0]!);
  t.throws(() => engine.compress(blocks[1]!, () => {}), /a block is already being compressed/);
  t.ok(gunzipSync(await first).equals(blocks[0]!), 'the first block still comes out whole');
  engine.close();
});

t.test('a closed engine answers the next block with an error, not silence', async (t) => {
  const engine = new BlockEngine(gzipCodec, gzipCodec.blockOptions(1, blockOutputSize(MiB)));
  await compress(engine, blocks[3]!);
  engine.close();
  await t.rejects(compress(engine, blocks[0]!), /engine is closed/);
  await t.rejects(compress(engine, blocks[0]!), /engine is closed/, 'and every block after it');
});

t.test("the engine's own error reaches the block's callback", async (t) => {
  // Not zlib: a stream that fails like a zlib engine whose native side reports an error,
  // which real data cannot make deflate do.
  class Failing extends Transform {
    override _transform(_chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
      callback(Object.assign(new Error('zlib: internal error'), { code: 'Z_STREAM_ERROR' }));
    }
    flush(): void {}
    reset(): void {}
  }
  const codec: Codec = { ...gzipCodec, createStream: () => new Failing() as unknown as EngineStream };
  const engine = new BlockEngine(codec, {});
  await t.rejects(compress(engine, blocks[0]!), { code: 'Z_STREAM_ERROR' });
  await t.rejects(compress(engine, blocks[3]!), { code: 'Z_STREAM_ERROR' }, 'a failed engine stays failed');
});

t.test('every write ends its member: the finishing flush is the engine\'s default', async (t) => {
  let seen: unknown;
  const codec: Codec = { ...gzipCodec, createStream: (options) => { seen = options.flush; return gzipCodec.createStream(options); } };
  const engine = new BlockEngine(codec, gzipCodec.blockOptions(1, blockOutputSize(MiB)));
  t.equal(seen, constants.Z_FINISH);
  t.ok(gunzipSync(await compress(engine, blocks[5]!)).equals(blocks[5]!));
  engine.close();
});
