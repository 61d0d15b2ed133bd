// Integration tests against a real S3-compatible server: the run's Ceph RGW (required in CI),
// s3rver only on a machine without Ceph. RGW implements ListMultipartUploads, so "no parts left
// behind" is checked against the server itself there.
import { HeadObjectCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import t from 'tap';
import { crashPrefix } from '../../src/store/keys.ts';
import { openStore } from '../../src/store/open-store.ts';
import { storeArtifact, storeBytes, storeJson } from '../../src/store/pipeline.ts';
import { createS3Store, s3ClientConfig } from '../../src/store/s3-store.ts';
import { StoreError, type Store } from '../../src/store/store.ts';
import { memoryEventLog } from '../../src/util/event-log.ts';
import { startS3Server, uniqueBucketName } from '../support/s3-server.ts';
import { MiB, collect, dataChunks, dataSha256, dataStream, sha256, streamDigest } from './fixtures/data.ts';
import { startLoopbackProxy } from './fixtures/loopback-proxy.ts';

const server = await startS3Server({ kind: 'best' });
t.teardown(() => server.stop());
const bucket = uniqueBucketName('postmortem-store');
await server.createBucket(bucket);

const PART = 5 * MiB;
const PREFIX = crashPrefix({
  prefix: 'pm',
  org: 'acme',
  space: 'prod',
  app: 'orders',
  instanceIndex: '0',
  reason: 'oom-killed',
  time: new Date('2024-03-05T07:08:09Z'),
});

function openS3(t: { teardown(fn: () => unknown): void }, endpoint = server.endpoint, queueSize = 3, name = bucket): Store {
  const store = createS3Store(server.target(name, { endpoint }), { partSize: PART, queueSize, maxAttempts: 2 });
  t.teardown(() => store.close());
  return store;
}

/** Unfinished multipart uploads under the prefix, as the server lists them (s3rver cannot). */
async function pendingUploads(prefix: string): Promise<string[] | undefined> {
  if (server.kind !== 'rgw') return undefined;
  const client = new S3Client(s3ClientConfig(server.target(bucket)));
  try {
    const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
    return (listed.Uploads ?? []).map((u) => u.Key!);
  } finally {
    client.destroy();
  }
}

async function listKeys(store: Store, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of store.list(prefix)) keys.push(item.key);
  return keys;
}

t.test('small object: one PUT, byte-exact, sha256 in metadata, listed, presigned URL works', async (t) => {
  const proxy = await startLoopbackProxy(server.endpoint);
  t.teardown(() => proxy.stop());
  const store = openS3(t, proxy.endpoint);
  const text = 'last words of the app\n'.repeat(1000);
  const record = await storeBytes(store, `${PREFIX}/log-tail.txt`, text, { contentType: 'text/plain' });
  t.equal(record.location, `s3://${bucket}/${PREFIX}/log-tail.txt`);
  t.equal(record.verified, true);
  t.same(
    proxy.seen.map((r) => r.method),
    ['PUT', 'HEAD'],
    'a single PutObject, then HEAD to verify',
  );
  t.equal((await collect(await store.get(record.key))).toString(), text);
  const head = await store.head(record.key);
  t.equal(head?.size, text.length);
  t.equal(head?.metadata['sha256'], sha256(text));
  t.same(await listKeys(store, `${PREFIX}/`), [record.key]);
  const url = await store.url(record.key, 300);
  t.match(url, /X-Amz-Signature=/);
  const response = await fetch(url);
  t.equal(response.status, 200);
  t.equal(await response.text(), text);
  t.equal(await store.head(`${PREFIX}/nothing-here`), undefined);
});

t.test('24 MiB multipart upload round-trips byte-exact', async (t) => {
  const proxy = await startLoopbackProxy(server.endpoint);
  t.teardown(() => proxy.stop());
  const store = openS3(t, proxy.endpoint);
  const size = 24 * MiB + 12345;
  const progress: number[] = [];
  const record = await storeArtifact(
    store,
    PREFIX,
    { name: 'core.4242', source: dataStream(size, 'random', 42), contentType: 'application/octet-stream', encoding: 'raw' },
    { onProgress: (p) => progress.push(p.storedBytes) },
  );
  t.equal(record.size, size);
  t.equal(record.sha256, dataSha256(size, 'random', 42));
  t.equal(record.storedSha256, record.sha256);
  t.equal(record.verified, true);
  t.equal(record.contentEncoding, undefined);
  const parts = proxy.seen.filter((r) => r.method === 'PUT' && r.query.has('partNumber'));
  t.equal(parts.length, 5, '5 parts of 5 MiB');
  for (const part of parts) {
    t.equal(part.headers['content-encoding'], undefined, 'no aws-chunked framing on parts');
    // Over plain http the part's payload stays signed (nothing else lets the server refuse a
    // part damaged on the way; https: test/store/payload-signing.test.ts), and it goes without
    // Expect: 100-continue, which would cost it a connection of its own.
    t.match(part.headers['x-amz-content-sha256'], /^[0-9a-f]{64}$/, 'part payload signed with its sha256 over http');
    t.equal(part.headers['expect'], undefined, 'no Expect: 100-continue');
  }
  // create + 5 parts + complete + HEAD + tagging over at most queueSize (3) keep-alive sockets
  // and the one the create used; a connection per part would make it 6 or more.
  t.ok(proxy.connections() <= 4, `${proxy.connections()} connections for ${proxy.seen.length} requests`);
  const report = await storeJson(store, `${PREFIX}/small.json`, { parts: parts.length });
  const put = proxy.seen.find((r) => r.method === 'PUT' && r.path.endsWith(report.key) && !r.query.has('tagging'));
  t.match(put?.headers['x-amz-content-sha256'], /^[0-9a-f]{64}$/, 'a body in one request (the report) stays signed with its sha256');
  t.equal(progress.at(-1), size);
  t.same(await streamDigest(await store.get(record.key)), { sha256: record.sha256, bytes: size }, 'downloaded bytes equal the source');
});

t.test('compress: stored sha and content sha correct, stored as .gz without Content-Encoding', async (t) => {
  const store = openS3(t);
  const size = 16 * MiB;
  const record = await storeArtifact(store, PREFIX, { name: 'heap.hprof', source: dataStream(size, 'heapish', 3), contentType: 'application/octet-stream', encoding: 'compress', gzipLevel: 1 });
  t.equal(record.name, 'heap.hprof.gz');
  t.equal(record.key, `${PREFIX}/heap.hprof.gz`);
  t.equal(record.contentEncoding, 'gzip');
  t.equal(record.size, size);
  t.equal(record.sha256, dataSha256(size, 'heapish', 3));
  t.ok(record.storedSize < size / 2, `compressed to ${record.storedSize} bytes`);
  const stored = await collect(await store.get(record.key));
  t.equal(stored.length, record.storedSize);
  t.equal(sha256(stored), record.storedSha256, 'download matches storedSha256');
  t.equal(sha256(gunzipSync(stored)), record.sha256, 'decompressed download equals the source');

  const client = new S3Client(s3ClientConfig(server.target(bucket)));
  t.teardown(() => client.destroy());
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: record.key }));
  t.equal(head.ContentType, 'application/gzip');
  t.equal(head.ContentEncoding, undefined, 'no Content-Encoding: clients must not gunzip on download');
  t.same(head.Metadata, {
    'content-type-decoded': 'application/octet-stream',
    'stored-encoding': 'gzip',
    'sha256-in': `${PREFIX}/report.json`,
  });
});

t.test('already-gzip with concatenated members: content hashed through gunzip, bytes stored as is', async (t) => {
  const store = openS3(t);
  // Random data does not compress, so three members make an ~12 MiB multipart object.
  const plain = [...dataChunks(12 * MiB, 'random', 9, 4 * MiB)];
  const gz = Buffer.concat(plain.map((p) => gzipSync(p, { level: 1 })));
  const record = await storeArtifact(store, PREFIX, {
    name: 'java_pid7.hprof.gz',
    source: Readable.from(slices(gz, 256 * 1024), { objectMode: false }),
    contentType: 'application/octet-stream',
    encoding: 'already-gzip',
  });
  t.equal(record.name, 'java_pid7.hprof.gz');
  t.equal(record.size, 12 * MiB, 'all three members counted');
  t.equal(record.sha256, sha256(Buffer.concat(plain)));
  t.equal(record.storedSize, gz.length);
  t.equal(record.storedSha256, sha256(gz));
  t.equal(record.contentEncoding, 'gzip');
  t.ok((await collect(await store.get(record.key))).equals(gz), 'stored bytes are the gzip file');
});

t.test('an empty artifact is a valid, empty object', async (t) => {
  const store = openS3(t);
  const record = await storeArtifact(store, PREFIX, { name: 'empty.log', source: Readable.from([]), contentType: 'text/plain', encoding: 'raw' });
  t.equal(record.size, 0);
  t.equal(record.verified, true);
  t.equal((await store.head(record.key))?.size, 0);
});

t.test('report.json written last carries every hash', async (t) => {
  const store = openS3(t);
  const report = { crash: PREFIX, artifacts: [{ name: 'x', sha256: 'ab' }] };
  const record = await storeJson(store, `${PREFIX}/report.json`, report);
  t.same(JSON.parse((await collect(await store.get(record.key))).toString()), report);
  t.equal((await store.head(record.key))?.metadata['sha256'], record.sha256);
});

t.test('missing bucket: clear StoreError, nothing created', async (t) => {
  const missing = uniqueBucketName('postmortem-missing');
  const store = openS3(t, server.endpoint, 3, missing);
  for (const size of [1000, 12 * MiB]) {
    const error = await storeArtifact(store, PREFIX, { name: `f${size}`, source: dataStream(size), contentType: 'application/octet-stream', encoding: 'raw' }).catch((e: unknown) => e);
    t.type(error, StoreError, `${size} bytes`);
    const message = (error as Error).message;
    t.match(message, `s3://${missing}/${PREFIX}/f${size}`);
    t.match(message, server.endpoint);
    t.match(message, /NoSuchBucket/);
    t.match(message, `Bucket "${missing}" does not exist`);
    t.notOk(message.includes(server.secretAccessKey), 'no secret in the message');
  }
  await t.rejects(listKeys(store, ''), /NoSuchBucket/, 'the bucket was not created on the way');
});

t.test('a source failing mid-upload aborts it: the error names the source, no object is left', async (t) => {
  const store = openS3(t);
  const name = 'broken.hprof';
  const source = Readable.from(
    (function* () {
      yield* dataChunks(12 * MiB, 'random', 5);
      throw new Error('dump file truncated by the OOM killer');
    })(),
    { objectMode: false },
  );
  const error = await storeArtifact(store, PREFIX, { name, source, contentType: 'application/octet-stream', encoding: 'raw' }).catch((e: unknown) => e);
  t.type(error, StoreError);
  t.match((error as Error).message, /reading broken\.hprof .* failed: dump file truncated by the OOM killer/);
  t.equal(await store.head(`${PREFIX}/${name}`), undefined, 'no half object');
  t.notOk((await listKeys(store, PREFIX)).includes(`${PREFIX}/${name}`));
  const pending = await pendingUploads(`${PREFIX}/${name}`);
  if (pending) t.same(pending, [], 'no multipart upload left on the server');
});

t.test('abort signal stops the upload and leaves no object', async (t) => {
  const store = openS3(t);
  const controller = new AbortController();
  const record = storeArtifact(
    store,
    PREFIX,
    { name: 'aborted.bin', source: dataStream(64 * MiB), contentType: 'application/octet-stream', encoding: 'raw' },
    { signal: controller.signal, onProgress: (p) => p.storedBytes > 8 * MiB && controller.abort() },
  );
  await t.rejects(record, { name: 'StoreError', message: /storing .*aborted\.bin was aborted/ });
  t.equal(await store.head(`${PREFIX}/aborted.bin`), undefined);
  const pending = await pendingUploads(`${PREFIX}/aborted.bin`);
  if (pending) t.same(pending, [], 'no multipart upload left on the server');
});

t.test('unreachable endpoint: the message says to check egress (ASG)', async (t) => {
  const proxy = await startLoopbackProxy(server.endpoint);
  const closed = proxy.endpoint;
  await proxy.stop();
  const store = createS3Store(server.target(bucket, { endpoint: closed, source: 'service "crash-store"' }), { partSize: PART, queueSize: 1, maxAttempts: 1 });
  t.teardown(() => store.close());
  const error = await storeBytes(store, `${PREFIX}/x`, 'x', { contentType: 'text/plain' }).catch((e: unknown) => e);
  t.type(error, StoreError);
  t.match((error as Error).message, /ECONNREFUSED/);
  t.match((error as Error).message, /application security group \(ASG\) allows egress/);
});

t.test('HEAD forbidden (write-only policy): stored, reported unverified, not failed', async (t) => {
  const proxy = await startLoopbackProxy(server.endpoint, (r) => (r.method === 'HEAD' ? 403 : undefined));
  t.teardown(() => proxy.stop());
  const log = memoryEventLog();
  const store = createS3Store(server.target(bucket, { endpoint: proxy.endpoint }), { partSize: PART, queueSize: 2, log });
  t.teardown(() => store.close());
  const record = await storeArtifact(store, PREFIX, { name: 'wo.bin', source: dataStream(7 * MiB), contentType: 'application/octet-stream', encoding: 'raw' });
  t.equal(record.verified, false);
  t.match(record.unverifiedReason, /HeadObject is forbidden \(HTTP 403/);
  t.match(log.lines.join('\n'), /WARNING: s3:\/\/.*wo\.bin uploaded but not verified/);
  const direct = openS3(t);
  t.equal((await direct.head(record.key))?.size, 7 * MiB, 'the object is there all the same');
});

t.test('openStore picks the S3 store for an s3 target', async (t) => {
  const store = openStore(server.target(bucket, { prefix: 'pm' }), { partSize: PART, queueSize: 1 });
  t.teardown(() => store.close());
  t.equal(store.description, `s3://${bucket}/pm at ${server.endpoint}`);
  t.equal(store.locationOf('pm/a'), `s3://${bucket}/pm/a`);
});

t.test('options are checked: the S3 minimum part size', async (t) => {
  t.throws(() => createS3Store(server.target(bucket), { partSize: MiB, queueSize: 1 }), /partSize must be .* at least 5242880/);
  t.throws(() => createS3Store(server.target(bucket), { partSize: PART, queueSize: 0 }), /queueSize must be a positive integer/);
});

function* slices(buffer: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buffer.length; i += size) yield buffer.subarray(i, i + size);
}
