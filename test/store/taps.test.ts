import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import t from 'tap';
import { GunzipHashTap, HashTap } from '../../src/store/taps.ts';
import { MiB, collect, dataChunks, dataSha256, dataStream, sha256 } from './fixtures/data.ts';

t.test('hash tap: sha256 and count of what passed, only after the end', async (t) => {
  const tap = new HashTap();
  t.throws(() => tap.digest(), /before the stream ended/);
  const out = await collect(dataStream(3 * MiB + 7).pipe(tap));
  t.same(tap.digest(), { sha256: dataSha256(3 * MiB + 7), bytes: 3 * MiB + 7 });
  t.equal(sha256(out), dataSha256(3 * MiB + 7), 'bytes pass through unchanged');
});

function members(): { gz: Buffer; plain: Buffer } {
  // The JVM (HeapDumpGzipLevel) writes one gzip member per block: a multi-member file.
  const parts = [...dataChunks(3 * MiB, 'heapish', 7, MiB)];
  return { gz: Buffer.concat(parts.map((p, i) => gzipSync(p, { level: 1 + i }))), plain: Buffer.concat(parts) };
}

t.test('gunzip side tap: hashes the content of ALL concatenated members, passes gzip through', async (t) => {
  const { gz, plain } = members();
  const tap = new GunzipHashTap();
  // Small source chunks so members straddle chunk boundaries.
  const out = await collect(Readable.from(slices(gz, 10_000), { objectMode: false }).pipe(tap));
  t.ok(out.equals(gz), 'stored bytes are the gzip bytes, unchanged');
  t.same(tap.digest(), { sha256: sha256(plain), bytes: plain.length });
  t.equal(gunzipSync(gz).length, plain.length, 'sanity: zlib also reads all members');
});

t.test('gunzip side tap: truncated gzip still passes through, digest says why there is no hash', async (t) => {
  const { gz } = members();
  const cut = gz.subarray(0, gz.length - 1000);
  const tap = new GunzipHashTap();
  const out = await collect(Readable.from(slices(cut, 64 * 1024), { objectMode: false }).pipe(tap));
  t.ok(out.equals(cut));
  const digest = tap.digest();
  t.equal(digest.sha256, '');
  t.match(digest.error, /gunzip failed after \d+ content bytes: unexpected end of file/);
  t.ok(digest.bytes > 2 * MiB, 'content bytes decoded before the cut are counted');
});

t.test('gunzip side tap: garbage is not gzip', async (t) => {
  const tap = new GunzipHashTap();
  const out = await collect(Readable.from([Buffer.from('not gzip at all')], { objectMode: false }).pipe(tap));
  t.equal(out.toString(), 'not gzip at all');
  t.match(tap.digest().error, /incorrect header check/);
});

t.test('gunzip side tap: a slow consumer bounds memory (back-pressure reaches the source)', async (t) => {
  const gz = gzipSync(Buffer.concat([...dataChunks(8 * MiB, 'heapish')]), { level: 1 });
  let pulled = 0;
  const source = Readable.from(
    (function* () {
      for (const slice of slices(gz, 16 * 1024)) {
        pulled += slice.length;
        yield slice;
      }
    })(),
    { objectMode: false },
  );
  let consumed = 0;
  let maxAhead = 0;
  const slow = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _e, callback) {
      consumed += chunk.length;
      maxAhead = Math.max(maxAhead, pulled - consumed);
      setImmediate(callback);
    },
  });
  const tap = new GunzipHashTap();
  await pipeline(source, tap, slow);
  t.equal(consumed, gz.length);
  t.ok(maxAhead < 256 * 1024, `source ran at most ${maxAhead} bytes ahead of the consumer`);
  t.equal(tap.digest().sha256, dataSha256(8 * MiB, 'heapish'));
});

function* slices(buffer: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buffer.length; i += size) yield buffer.subarray(i, i + size);
}
