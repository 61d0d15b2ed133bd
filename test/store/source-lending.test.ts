// An artifact stored as it was read (raw: POSTMORTEM_GZIP_LEVEL=0; already gzip: a dump the
// JVM compressed) passes the source's own chunks to the store, and the store gives each back
// once it has copied it into a part (S3) or written it (folder); a .gz's chunk also waits for
// the gunzip that hashes its content on the side. The source then reads its next bytes into
// the same memory instead of taking a new buffer per read (bench/README.md, eleventh session:
// that garbage was a third of the raw upload's CPU). What must hold: a chunk goes back only
// after every holder is done with it (a source that scribbles over a chunk the moment it is
// back changes no stored byte and no content hash), each chunk goes back once, a real file
// followed as the watchdog follows a dump is stored byte-exact in a handful of read buffers,
// and a store that keeps the chunks never gives them back.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { followGrowingFile } from '../../src/capture/growing-file.ts';
import { createFileStore } from '../../src/store/file-store.ts';
import { storeArtifact } from '../../src/store/pipeline.ts';
import { createS3Store } from '../../src/store/s3-store.ts';
import type { Store } from '../../src/store/store.ts';
import { startS3Server, uniqueBucketName } from '../support/s3-server.ts';
import { MiB, collect, dataChunks, sha256 } from './fixtures/data.ts';

const spec = { name: 'heap.hprof', contentType: 'application/octet-stream', encoding: 'raw' } as const;
/** 12 MiB and a bit: three 5 MiB parts, the last one short. */
const SIZE = 12 * MiB + 4321;

/** Chunks of their own memory, 256 KiB like the watchdog's reads. */
function ownChunks(): Buffer[] {
  return [...dataChunks(SIZE, 'heapish', 7, 256 * 1024)].map((c) => Buffer.from(c));
}

/** Stores `chunks` raw; each released chunk is overwritten at once, as a reader reading into it would. */
async function scribbled(t: Test, store: Store, key: string) {
  const chunks = ownChunks();
  const expected = sha256(Buffer.concat(ownChunks()));
  const released = new Set<Buffer>();
  const record = await storeArtifact(store, key, {
    ...spec,
    source: Readable.from(chunks, { objectMode: false }),
    release: (chunk) => {
      t.notOk(released.has(chunk), 'a chunk goes back once');
      t.ok(chunks.includes(chunk), 'what goes back is a chunk of this source, as it was lent');
      released.add(chunk);
      chunk.fill(0xee);
    },
  });
  t.equal(released.size, chunks.length, `all ${chunks.length} chunks went back`);
  t.equal(record.sha256, expected, 'content hash of the bytes as read');
  t.equal(record.storedSha256, expected);
  return { record, expected };
}

/** The content as the JVM writes a compressed dump: several gzip members, cut into 64 KiB chunks of their own. */
function gzChunks(): { chunks: Buffer[]; gz: Buffer; content: Buffer } {
  const content = Buffer.concat(ownChunks());
  const members: Buffer[] = [];
  for (let at = 0; at < content.length; at += 4 * MiB) members.push(gzipSync(content.subarray(at, at + 4 * MiB), { level: 1 }));
  const gz = Buffer.concat(members);
  const chunks: Buffer[] = [];
  for (let at = 0; at < gz.length; at += 64 * 1024) chunks.push(Buffer.from(gz.subarray(at, at + 64 * 1024)));
  return { chunks, gz, content };
}

/** Stores a .gz as it is; each chunk is overwritten the moment it is back. */
async function scribbledGz(t: Test, store: Store, key: string) {
  const { chunks, gz, content } = gzChunks();
  const released = new Set<Buffer>();
  const record = await storeArtifact(store, key, {
    ...spec,
    name: 'heap.hprof.gz',
    encoding: 'already-gzip',
    source: Readable.from(chunks, { objectMode: false }),
    release: (chunk) => {
      t.notOk(released.has(chunk), 'a chunk goes back once');
      released.add(chunk);
      chunk.fill(0xee);
    },
  });
  t.equal(released.size, chunks.length, `all ${chunks.length} chunks went back`);
  t.equal(record.sha256, sha256(content), 'the content hash is of the bytes as read: the gunzip had decoded each chunk before it went back');
  t.equal(record.storedSha256, sha256(gz));
  t.notOk(record.contentError, 'the gunzip on the side saw a whole, valid stream');
  return { record, expected: sha256(gz) };
}

t.test('S3 multipart writer (real RGW): a chunk goes back only once it is in a part', async (t) => {
  const server = await startS3Server({ kind: 'best' });
  t.teardown(() => server.stop());
  const bucket = uniqueBucketName('postmortem-lending');
  await server.createBucket(bucket);
  const store = createS3Store(server.target(bucket), { partSize: 5 * MiB, queueSize: 2 });
  t.teardown(() => store.close());
  const { record, expected } = await scribbled(t, store, 'scribbled');
  t.equal(sha256(await collect(await store.get(record.key))), expected, 'the stored object is the bytes as read, not what was written into them after');

  t.test('already gzip: a chunk goes back once it is in a part and decoded on the side', async (t) => {
    const gz = await scribbledGz(t, store, 'scribbled-gz');
    t.equal(sha256(await collect(await store.get(gz.record.key))), gz.expected, 'the stored object is the .gz as read');
  });

  t.test('a real file, followed as the watchdog follows a dump: byte-exact in a few read buffers', async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'postmortem-lending-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'heap.hprof');
    await writeFile(file, Buffer.concat(ownChunks()));
    const followed = followGrowingFile(file);
    followed.complete();
    const memory = new Set<ArrayBufferLike>();
    let back = 0;
    const stored = await storeArtifact(store, 'followed', {
      ...spec,
      source: followed.stream,
      release: (chunk) => {
        back++;
        memory.add(chunk.buffer);
        followed.release(chunk);
      },
    });
    const fileSha = sha256(await readFile(file));
    t.equal(stored.sha256, fileSha, 'content hash is the file\'s');
    t.equal(sha256(await collect(await store.get(stored.key))), fileSha, 'the stored object is the file');
    t.equal(back, Math.ceil(SIZE / (256 * 1024)), 'every read went back');
    t.ok(memory.size <= 6, `${memory.size} read buffers for ${back} reads (a spare set of 4, the one read ahead, the one at the store)`);
  });
});

t.test('folder store: a chunk goes back only once it is written', async (t) => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'postmortem-lending-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const store = createFileStore({ kind: 'file', root, prefix: '', source: 'test' });
  const { record, expected } = await scribbled(t, store, 'scribbled');
  t.equal(sha256(await readFile(record.location)), expected, 'the file is the bytes as read');
  const gz = await scribbledGz(t, store, 'scribbled-gz');
  t.equal(sha256(await readFile(gz.record.location)), gz.expected, 'the .gz file is the bytes as read');
});

t.test('a store that keeps the chunks (gives none back) gets them unchanged: none is released', async (t) => {
  const kept: Buffer[] = [];
  let released = 0;
  const store: Store = {
    description: 'memory:',
    locationOf: (key) => `memory:${key}`,
    put: async (request) => {
      for await (const chunk of request.body) kept.push(chunk as Buffer);
      const bytes = kept.reduce((n, c) => n + c.length, 0);
      return { location: `memory:${request.key}`, storedBytes: bytes, verified: true };
    },
    list: async function* () {},
    get: async () => Readable.from([]),
    head: async () => undefined,
    url: async (key) => `memory:${key}`,
    close: () => {},
  };
  const record = await storeArtifact(store, 'kept', { ...spec, source: Readable.from(ownChunks(), { objectMode: false }), release: () => { released++; } });
  t.equal(released, 0);
  t.equal(createHash('sha256').update(Buffer.concat(kept)).digest('hex'), record.sha256, 'what the store kept is the content');
});
