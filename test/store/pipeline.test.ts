// Pipeline behaviour with small fake stores (the real ones are in file-store / s3-store tests).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import t from 'tap';
import { storeArtifact, storeBytes } from '../../src/store/pipeline.ts';
import { StoreError, type PutRequest, type PutResult, type Store } from '../../src/store/store.ts';
import { MiB, collect, dataChunks, dataSha256, dataStream, sha256 } from './fixtures/data.ts';

/** Keeps what was put in memory (small tests only); `behave` can replace put. */
function memoryStore(behave?: (request: PutRequest) => Promise<PutResult>): Store & { objects: Map<string, { bytes: Buffer; request: PutRequest }> } {
  const objects = new Map<string, { bytes: Buffer; request: PutRequest }>();
  return {
    objects,
    description: 'memory:',
    locationOf: (key) => `memory:${key}`,
    put:
      behave ??
      (async (request) => {
        const bytes = await collect(request.body);
        objects.set(request.key, { bytes, request });
        return { location: `memory:${request.key}`, storedBytes: bytes.length, verified: true };
      }),
    list: async function* () {},
    get: async (key) => Readable.from([objects.get(key)?.bytes ?? Buffer.alloc(0)]),
    head: async () => undefined,
    url: async (key) => `memory:${key}`,
    close: () => {},
  };
}

const spec = { name: 'heap.hprof', contentType: 'application/octet-stream' } as const;

t.test('compress: .gz name, gzip type, no Content-Encoding, metadata points at the report', async (t) => {
  const store = memoryStore();
  let ticks = 0;
  let last = { contentBytes: 0, storedBytes: 0 };
  let clock = 1000;
  const record = await storeArtifact(store, 'crash', { ...spec, source: dataStream(MiB, 'heapish'), encoding: 'compress' }, {
    onProgress: (p) => {
      t.ok(p.contentBytes >= last.contentBytes && p.storedBytes >= last.storedBytes, 'progress only grows');
      last = p;
      ticks++;
    },
    now: () => (clock += 250),
  });
  const { bytes, request } = store.objects.get('crash/heap.hprof.gz')!;
  t.equal(request.contentType, 'application/gzip');
  t.equal(request.contentEncoding, undefined);
  t.same(request.metadata, { 'content-type-decoded': 'application/octet-stream', 'stored-encoding': 'gzip', 'sha256-in': 'crash/report.json' });
  t.equal(sha256(gunzipSync(bytes)), dataSha256(MiB, 'heapish'));
  t.same({ ...record, location: undefined }, {
    name: 'heap.hprof.gz',
    key: 'crash/heap.hprof.gz',
    location: undefined,
    size: MiB,
    sha256: dataSha256(MiB, 'heapish'),
    storedSize: bytes.length,
    storedSha256: sha256(bytes),
    contentEncoding: 'gzip',
    complete: true,
    verified: true,
    durationMs: 250,
  });
  t.ok(ticks > 0);
  t.same(last, { contentBytes: MiB, storedBytes: bytes.length });
});

/** Chunks of their own memory (dataChunks may reuse), for a source that takes them back. */
function ownChunks(size: number): Buffer[] {
  return [...dataChunks(size, 'heapish', 3, 10_000)].map((c) => Buffer.from(c));
}

t.test('compress: each source chunk is released once copied; overwriting it then changes nothing', async (t) => {
  const store = memoryStore();
  const chunks = ownChunks(3 * MiB + 5);
  const released = new Set<Buffer>();
  const record = await storeArtifact(store, 'crash', {
    ...spec, source: Readable.from(chunks, { objectMode: false }), encoding: 'compress',
    release: (chunk) => {
      t.notOk(released.has(chunk), 'released once');
      released.add(chunk);
      chunk.fill(0xee); // as a reader would, reading the next bytes into it
    },
  });
  const expectedSha = dataSha256Of(ownChunks(3 * MiB + 5));
  t.equal(released.size, chunks.length, `all ${chunks.length} chunks released`);
  t.equal(record.sha256, expectedSha, 'content hash of the bytes as read');
  t.equal(sha256(gunzipSync(store.objects.get('crash/heap.hprof.gz')!.bytes)), expectedSha, 'stored bytes are the content as read');
});

// raw: the source's chunks are lent to the store and come back from it: test/store/source-lending.test.ts.

function dataSha256Of(chunks: Buffer[]): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

t.test('compress with gzipLevel 0 stores raw (the config meaning of 0)', async (t) => {
  const store = memoryStore();
  const record = await storeArtifact(store, 'crash', { ...spec, source: dataStream(1000), encoding: 'compress', gzipLevel: 0 });
  t.equal(record.name, 'heap.hprof');
  t.equal(record.contentEncoding, undefined);
  t.equal(record.storedSha256, record.sha256);
  await t.rejects(storeArtifact(store, 'crash', { ...spec, source: dataStream(10), encoding: 'compress', gzipLevel: 12 }), TypeError);
});

t.test('empty source', async (t) => {
  const record = await storeArtifact(memoryStore(), 'crash', { ...spec, source: Readable.from([]), encoding: 'raw' });
  t.equal(record.size, 0);
  t.equal(record.sha256, createHash('sha256').digest('hex'));
});

t.test('a store that fails without reading: rejects with its error, source released', async (t) => {
  const source = dataStream(64 * MiB);
  const store = memoryStore(async () => {
    throw new StoreError('bucket on fire');
  });
  await t.rejects(storeArtifact(store, 'crash', { ...spec, source, encoding: 'raw' }), { message: 'bucket on fire' });
  t.ok(source.destroyed, 'the source was destroyed, not left hanging');
});

t.test('a store that resolves without reading everything is an error, not a short object', async (t) => {
  const store = memoryStore(async () => ({ location: 'x', storedBytes: 0, verified: true }));
  await t.rejects(storeArtifact(store, 'crash', { ...spec, source: dataStream(4 * MiB), encoding: 'raw' }), {
    name: 'StoreError',
    message: 'store finished crash/heap.hprof before reading all of it',
  });
});

t.test('a store that miscounts is caught', async (t) => {
  const store = memoryStore(async (request) => ({ location: 'x', storedBytes: (await collect(request.body)).length - 1, verified: true }));
  await t.rejects(storeArtifact(store, 'crash', { ...spec, source: dataStream(1000), encoding: 'raw' }), /took 999 bytes .* but 1000 were sent/);
});

t.test('storeBytes: sha256 in metadata, ASCII-only metadata', async (t) => {
  const store = memoryStore();
  const record = await storeBytes(store, 'crash/log-tail.txt', 'héllo\n', { contentType: 'text/plain', metadata: { App_Name: 'café' } });
  const { request } = store.objects.get('crash/log-tail.txt')!;
  t.same(request.metadata, { 'app-name': 'caf?', sha256: sha256('héllo\n'), 'stored-encoding': 'identity' });
  t.equal(record.size, Buffer.byteLength('héllo\n'));
  t.equal(record.name, 'log-tail.txt');
});

t.test('completeness: what the writer said and a cut-short gzip make the record incomplete, with the reason', async (t) => {
  const store = memoryStore();
  const whole = await storeArtifact(store, 'crash', { ...spec, source: dataStream(1000), encoding: 'raw', completeness: () => ({ complete: true }) });
  t.equal(whole.complete, true);
  t.equal(whole.incompleteReason, undefined);
  const said = await storeArtifact(store, 'crash', { ...spec, name: 'b', source: dataStream(1000), encoding: 'raw', completeness: () => ({ complete: false, reason: 'the JVM said no' }) });
  t.equal(said.complete, false);
  t.equal(said.incompleteReason, 'the JVM said no');
  t.equal(said.verified, true, 'the transfer itself is still verified: the store holds what was read');
  const gz = gzipSync(Buffer.alloc(100_000, 7));
  const cut = await storeArtifact(store, 'crash', { name: 'c.hprof.gz', contentType: 'application/octet-stream', source: Readable.from([gz.subarray(0, gz.length - 20)]), encoding: 'already-gzip' });
  t.equal(cut.complete, false, 'a truncated gzip is incomplete even when nobody said so');
  t.match(cut.incompleteReason, /the stored gzip stream is cut short \(gunzip failed after \d+ content bytes: unexpected end of file\)/);
});
