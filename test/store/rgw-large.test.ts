// A 1 GiB artifact on Ceph RGW: the size of a real heap dump, stored raw (so the object really
// is 1 GiB) with the default part settings, then downloaded and hashed again. RADOS objects are
// capped at 128 MiB (osd_max_object_size), but RGW stripes every part into 4 MiB RADOS objects,
// so what this needs from the test cluster is room in its OSD, not a bigger object limit.
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import t from 'tap';
import { DEFAULTS } from '../../src/config/parse.ts';
import { storeArtifact } from '../../src/store/pipeline.ts';
import { createS3Store, s3ClientConfig } from '../../src/store/s3-store.ts';
import { rgwForThisFile } from '../support/rgw/for-tests.ts';
import { uniqueBucketName, type S3TestServer } from '../support/s3-server.ts';
import { MiB, streamDigest } from './fixtures/data.ts';

const GiB = 1024 * MiB;

const server = await rgwForThisFile(t);
if (server) await tests(server);

/** Incompressible, every MiB different, and fast: one hashed block, stamped with the MiB's number. */
function* gibibyte(): Generator<Buffer> {
  const block = Buffer.alloc(MiB);
  for (let at = 0; at < MiB; at += 32) createHash('sha256').update(`block ${at}`).digest().copy(block, at);
  for (let i = 0; i < 1024; i++) {
    const chunk = Buffer.from(block);
    chunk.writeUInt32LE(i, 0);
    yield chunk;
  }
}

async function tests(server: S3TestServer): Promise<void> {
  const bucket = uniqueBucketName('postmortem-rgw-large');
  await server.createBucket(bucket);

  t.test('1 GiB multipart upload with the default part size: stored, verified, downloaded byte-exact', async (t) => {
    const expected = createHash('sha256');
    for (const chunk of gibibyte()) expected.update(chunk);
    const sha256 = expected.digest('hex');

    const store = createS3Store(server.target(bucket), { partSize: DEFAULTS.partSize, queueSize: DEFAULTS.queueSize });
    t.teardown(() => store.close());
    const started = Date.now();
    const record = await storeArtifact(store, 'large', {
      name: 'heap.hprof',
      source: Readable.from(gibibyte(), { objectMode: false }),
      contentType: 'application/octet-stream',
      encoding: 'raw',
    });
    t.comment(`uploaded 1 GiB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    t.equal(record.size, GiB);
    t.equal(record.storedSize, GiB);
    t.equal(record.sha256, sha256);
    t.equal(record.verified, true);

    const client = new S3Client(s3ClientConfig(server.target(bucket)));
    t.teardown(() => client.destroy());
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: record.key }));
    t.equal(head.ContentLength, GiB);
    t.match(head.ETag, new RegExp(`-${Math.ceil(GiB / DEFAULTS.partSize)}"$`), `${Math.ceil(GiB / DEFAULTS.partSize)} parts, the last one short`);
    t.same(await streamDigest(await store.get(record.key)), { sha256, bytes: GiB }, 'downloaded byte-exact');
  });
}
