// A streamed object's hashes are known only after its last byte; they reach the object as
// tags (S3 object tagging), readable by any S3 tool, and match what was stored.
import { GetObjectCommand, GetObjectTaggingCommand, S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { storeArtifact } from '../../src/store/pipeline.ts';
import { createS3Store } from '../../src/store/s3-store.ts';
import { rgwForThisFile } from '../support/rgw/for-tests.ts';
import { uniqueBucketName } from '../support/s3-server.ts';
import { MiB, collect, dataSha256, dataStream, sha256 } from './fixtures/data.ts';

const server = await rgwForThisFile(t);
if (server) {
  const bucket = uniqueBucketName('tags');
  await server.createBucket(bucket);
  t.test('sha256 of the content and of the stored bytes as object tags', async (t) => {
    const store = createS3Store(server.target(bucket), { partSize: 5 * MiB, queueSize: 2 });
    t.teardown(() => store.close());
    const size = 12 * MiB;
    const record = await storeArtifact(store, 'tags/crash', { name: 'heap.hprof', source: dataStream(size, 'heapish', 4), contentType: 'application/octet-stream', encoding: 'compress', gzipLevel: 1 });
    t.equal(record.tagged, true);
    const client = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true, credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey } });
    t.teardown(() => client.destroy());
    const { TagSet } = await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: record.key }));
    const tags = Object.fromEntries((TagSet ?? []).map((x) => [x.Key, x.Value]));
    // Expected values come from the bytes RGW hands back, not from our own record.
    const stored = await collect((await client.send(new GetObjectCommand({ Bucket: bucket, Key: record.key }))).Body as Readable);
    const content = gunzipSync(stored);
    t.equal(content.length, size, 'the stored gzip holds the whole content');
    t.equal(tags.sha256, sha256(content), 'sha256 tag = hash of the decompressed stored object');
    t.equal(tags.sha256, dataSha256(size, 'heapish', 4), 'and of the source');
    t.equal(tags['stored-sha256'], sha256(stored), 'stored-sha256 tag = hash of the stored bytes');
  });
}
