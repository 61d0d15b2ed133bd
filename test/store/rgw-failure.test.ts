// Failed uploads on Ceph RGW leave nothing behind: no object, no bucket created on the way, and
// (unlike s3rver, which has no AbortMultipartUpload) no pending multipart upload holding parts.
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import t from 'tap';
import { storeArtifact } from '../../src/store/pipeline.ts';
import { createS3Store, s3ClientConfig } from '../../src/store/s3-store.ts';
import { StoreError } from '../../src/store/store.ts';
import { rgwForThisFile } from '../support/rgw/for-tests.ts';
import { uniqueBucketName, type S3TestServer } from '../support/s3-server.ts';
import { MiB, dataChunks, dataStream } from './fixtures/data.ts';
import { startLoopbackProxy } from './fixtures/loopback-proxy.ts';

const server = await rgwForThisFile(t);
if (server) await tests(server);

async function tests(server: S3TestServer): Promise<void> {
  const client = new S3Client(s3ClientConfig(server.target('any')));
  t.teardown(() => client.destroy());

  async function bucketExists(bucket: string): Promise<boolean> {
    try {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
      return true;
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw error;
    }
  }

  t.test('a bucket that does not exist: a StoreError that says so, and nothing created', async (t) => {
    const missing = uniqueBucketName('postmortem-rgw-missing');
    const store = createS3Store(server.target(missing, { source: 'service "crash-store"' }), { partSize: 5 * MiB, queueSize: 2, maxAttempts: 2 });
    t.teardown(() => store.close());
    for (const size of [1000, 12 * MiB]) {
      const name = `artifact-${size}`;
      const error = await storeArtifact(store, 'crash', { name, source: dataStream(size), contentType: 'application/octet-stream', encoding: 'raw' }).catch(
        (e: unknown) => e,
      );
      t.type(error, StoreError, `${size} bytes (${size > 5 * MiB ? 'multipart' : 'single PUT'})`);
      const message = (error as Error).message;
      t.match(message, `S3 upload of s3://${missing}/crash/${name} at ${server.endpoint} failed: NoSuchBucket`);
      t.match(message, `(HTTP 404). Bucket "${missing}" does not exist at ${server.endpoint}: create it, or fix the bucket name in service "crash-store".`);
      t.notOk(message.includes(server.secretAccessKey), 'no secret in the message');
    }
    t.equal(await bucketExists(missing), false, 'the bucket was not created on the way');
  });

  t.test('the source fails half way through a multipart upload: aborted, no object, no multipart upload left', async (t) => {
    const bucket = uniqueBucketName('postmortem-rgw-abort');
    await server.createBucket(bucket);
    const proxy = await startLoopbackProxy(server.endpoint);
    t.teardown(() => proxy.stop());
    const store = createS3Store(server.target(bucket, { endpoint: proxy.endpoint }), { partSize: 5 * MiB, queueSize: 2 });
    t.teardown(() => store.close());
    const source = Readable.from(
      (function* () {
        yield* dataChunks(16 * MiB, 'random', 41);
        throw new Error('heap dump truncated: the disk is full');
      })(),
      { objectMode: false },
    );
    const error = await storeArtifact(store, 'crash', { name: 'heap.hprof', source, contentType: 'application/octet-stream', encoding: 'raw' }).catch(
      (e: unknown) => e,
    );
    t.type(error, StoreError);
    t.match((error as Error).message, /reading heap\.hprof for crash\/heap\.hprof failed: heap dump truncated: the disk is full/);

    const created = proxy.seen.filter((r) => r.method === 'POST' && r.query.has('uploads'));
    const parts = proxy.seen.filter((r) => r.method === 'PUT' && r.query.has('partNumber'));
    const aborts = proxy.seen.filter((r) => r.method === 'DELETE' && r.query.has('uploadId'));
    t.equal(created.length, 1, 'a multipart upload was started');
    t.ok(parts.length >= 2, `${parts.length} parts were sent before the source failed`);
    t.equal(aborts.length, 1, 'and aborted (AbortMultipartUpload)');
    t.notOk(proxy.seen.some((r) => r.method === 'POST' && r.query.has('uploadId')), 'never completed');

    const pending = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    t.same(pending.Uploads ?? [], [], 'ListMultipartUploads: nothing pending');
    t.equal(await store.head('crash/heap.hprof'), undefined, 'no object');

    // The control: an upload nobody aborts is listed, so the empty list above means something.
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'crash/left-open' }));
    const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    t.same(
      listed.Uploads?.map((u) => [u.Key, u.UploadId]),
      [['crash/left-open', UploadId]],
      'control: an upload left open is listed',
    );
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: 'crash/left-open', UploadId }));
  });
}
