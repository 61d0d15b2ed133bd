// storeArtifact on Ceph RGW: each encoding (compress, already-gzip, raw) streamed in multipart,
// downloaded again, and checked against the record that goes into report.json and against the
// source, hashed independently.
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { createGunzip, gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { crashPrefix } from '../../src/store/keys.ts';
import { storeArtifact, type ArtifactRecord } from '../../src/store/pipeline.ts';
import { createS3Store, s3ClientConfig } from '../../src/store/s3-store.ts';
import type { Store } from '../../src/store/store.ts';
import { rgwForThisFile } from '../support/rgw/for-tests.ts';
import { uniqueBucketName, type S3TestServer } from '../support/s3-server.ts';
import { MiB, dataChunks, dataSha256, dataStream, sha256, streamDigest } from './fixtures/data.ts';

const server = await rgwForThisFile(t);
if (server) await tests(server);

async function tests(server: S3TestServer): Promise<void> {
  const bucket = uniqueBucketName('postmortem-rgw-pipeline');
  await server.createBucket(bucket);
  const PREFIX = crashPrefix({
    prefix: 'crashes',
    org: 'acme',
    space: 'prod',
    app: 'orders',
    instanceIndex: '2',
    reason: 'oom',
    time: new Date('2026-11-27T03:17:17Z'),
  });
  const store: Store = createS3Store(server.target(bucket), { partSize: 5 * MiB, queueSize: 3 });
  t.teardown(() => store.close());
  const client = new S3Client(s3ClientConfig(server.target(bucket)));
  t.teardown(() => client.destroy());

  /** Downloads the object and checks it against the record: stored bytes, and content after gunzip. */
  async function checkDownload(t: Test, record: ArtifactRecord): Promise<void> {
    t.equal(record.verified, true, 'the store confirmed the size');
    t.equal(record.location, `s3://${bucket}/${record.key}`);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: record.key }));
    t.equal(head.ContentLength, record.storedSize, 'stored size as recorded');
    t.equal(head.ContentEncoding, undefined, 'no Content-Encoding header');
    t.equal(head.Metadata?.['sha256-in'], `${PREFIX}/report.json`);
    t.equal(head.Metadata?.['stored-encoding'], record.contentEncoding ?? 'identity');
    t.same(await streamDigest(await store.get(record.key)), { sha256: record.storedSha256, bytes: record.storedSize }, 'downloaded bytes = storedSha256');
    const content = record.contentEncoding === 'gzip' ? (await store.get(record.key)).pipe(createGunzip()) : await store.get(record.key);
    t.same(await streamDigest(content), { sha256: record.sha256, bytes: record.size }, 'downloaded content = sha256');
  }

  t.test('compress: gzip on the fly, stored as .gz', async (t) => {
    const size = 64 * MiB;
    const record = await storeArtifact(store, PREFIX, {
      name: 'heap.hprof',
      source: dataStream(size, 'heapish', 21),
      contentType: 'application/octet-stream',
      encoding: 'compress',
    });
    t.equal(record.key, `${PREFIX}/heap.hprof.gz`);
    t.equal(record.contentEncoding, 'gzip');
    t.equal(record.size, size);
    t.equal(record.sha256, dataSha256(size, 'heapish', 21), 'content hash = the source, hashed on its own');
    t.ok(record.storedSize > 10 * MiB && record.storedSize < size / 2, `compressed to ${record.storedSize} bytes, still multipart`);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: record.key }));
    t.equal(head.ContentType, 'application/gzip');
    t.match(head.ETag, /-\d+"$/, 'a multipart object');
    await checkDownload(t, record);
  });

  t.test('already-gzip with concatenated members: stored as is, content hashed through gunzip', async (t) => {
    const plain = [...dataChunks(15 * MiB, 'random', 22, 5 * MiB)];
    const gz = Buffer.concat(plain.map((member) => gzipSync(member, { level: 1 })));
    const record = await storeArtifact(store, PREFIX, {
      name: 'java_pid12.hprof.gz',
      source: Readable.from(slices(gz, 256 * 1024), { objectMode: false }),
      contentType: 'application/octet-stream',
      encoding: 'already-gzip',
    });
    t.equal(record.key, `${PREFIX}/java_pid12.hprof.gz`);
    t.equal(record.size, 15 * MiB, 'all three members counted');
    t.equal(record.sha256, sha256(Buffer.concat(plain)));
    t.equal(record.storedSize, gz.length);
    t.equal(record.storedSha256, sha256(gz));
    t.equal(record.contentError, undefined);
    await checkDownload(t, record);
  });

  t.test('raw: stored byte for byte', async (t) => {
    const size = 17 * MiB + 333;
    const record = await storeArtifact(store, PREFIX, {
      name: 'core.4242',
      source: dataStream(size, 'random', 23),
      contentType: 'application/octet-stream',
      encoding: 'raw',
    });
    t.equal(record.key, `${PREFIX}/core.4242`);
    t.equal(record.contentEncoding, undefined);
    t.equal(record.size, size);
    t.equal(record.sha256, dataSha256(size, 'random', 23));
    t.equal(record.storedSha256, record.sha256);
    t.equal(record.storedSize, size);
    await checkDownload(t, record);
  });
}

function* slices(buffer: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < buffer.length; at += size) yield buffer.subarray(at, at + size);
}
