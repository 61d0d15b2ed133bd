// Proves on a real server why s3ClientConfig sets requestChecksumCalculation 'WHEN_REQUIRED':
// with the SDK default a streamed PutObject is sent aws-chunked with a CRC32 trailer, which
// s3rver stores inside the object (RGW answers 411). The same request with our settings
// stores exactly the source bytes.
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import t from 'tap';
import { s3ClientConfig } from '../../src/store/s3-store.ts';
import { startS3Server, uniqueBucketName, type S3TestServer } from '../support/s3-server.ts';
import { rgwForThisFile } from '../support/rgw/for-tests.ts';
import { MiB, collect, dataSha256, dataStream, sha256 } from './fixtures/data.ts';

// Both servers the project meets: s3rver stores the framing silently, Ceph RGW refuses the
// request with 411. Each outcome is asserted for the server that produces it.
const s3rver = await startS3Server({ kind: 's3rver' });
t.teardown(() => s3rver.stop());
const rgw = await rgwForThisFile(t);
const servers = [s3rver, ...(rgw ? [rgw] : [])];
const bucket = uniqueBucketName('postmortem-checksum');
for (const server of servers) await server.createBucket(bucket);

/** Only what any user of the SDK would set: no checksum settings. */
function sdkDefaults(server: S3TestServer): S3ClientConfig {
  const target = server.target(bucket);
  return { region: target.region, endpoint: target.endpoint, forcePathStyle: true, credentials: target.credentials };
}

const SIZE = 100_000;

async function putStreamed(config: S3ClientConfig, key: string): Promise<Buffer> {
  const client = new S3Client(config);
  try {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: dataStream(SIZE), ContentLength: SIZE }));
    const result = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await collect(result.Body as Readable);
  } finally {
    client.destroy();
  }
}

t.test('SDK default checksums, s3rver: a streamed PutObject stores the aws-chunked framing', async (t) => {
  const stored = await putStreamed(sdkDefaults(s3rver), 'default-checksum');
  t.not(sha256(stored), dataSha256(SIZE), 'stored bytes differ from the source');
  t.ok(stored.length > SIZE, `${stored.length} bytes stored for ${SIZE} sent`);
  t.match(stored.subarray(0, 12).toString('latin1'), /^[0-9a-f]+\r\n/, 'starts with a chunk size in hex');
  t.match(stored.subarray(-60).toString('latin1'), /\r\n0\r\nx-amz-checksum-crc32:[A-Za-z0-9+/=]+\r\n\r\n$/, 'ends with the checksum trailer');
  t.equal(sha256(unchunk(stored)), dataSha256(SIZE), 'removing the aws-chunked framing gives the source back');
});

if (rgw) {
  t.test('SDK default checksums, Ceph RGW: the streamed PutObject is refused with 411, nothing stored', async (t) => {
    const error = await putStreamed(sdkDefaults(rgw), 'default-checksum').then(() => undefined, (e: unknown) => e as { $metadata?: { httpStatusCode?: number } });
    t.equal(error?.$metadata?.httpStatusCode, 411, 'HTTP 411 Length Required');
    const client = new S3Client(sdkDefaults(rgw));
    t.teardown(() => client.destroy());
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'default-checksum' })).then(() => 'found', (e: { name?: string }) => e.name);
    t.equal(head, 'NotFound', 'no object under the key');
  });
}

/** Decodes aws-chunked: `<hex size>\r\n<bytes>\r\n` … `0\r\n<trailers>\r\n`. */
function unchunk(framed: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = framed.indexOf('\r\n', at);
    const size = parseInt(framed.subarray(at, eol).toString('latin1'), 16);
    if (!(size > 0)) return Buffer.concat(parts);
    parts.push(framed.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

for (const server of servers) {
  t.test(`our client settings, ${server.kind}: the same streamed PutObject stores exactly the source bytes`, async (t) => {
    const stored = await putStreamed(s3ClientConfig(server.target(bucket)), 'our-checksum');
    t.equal(stored.length, SIZE);
    t.equal(sha256(stored), dataSha256(SIZE));
  });
}

for (const server of servers) {
  t.test(`lib-storage with SDK defaults, ${server.kind}: parts are stored byte-exact`, async (t) => {
    // lib-storage cuts the stream into Buffers before sending, and a Buffer body gets a plain
    // checksum header instead of aws-chunked framing, so it survives the default on both
    // servers; the store still uses WHEN_REQUIRED, for RGW and for any streamed call.
    const client = new S3Client(sdkDefaults(server));
    t.teardown(() => client.destroy());
    for (const size of [SIZE, 12 * MiB]) {
      const key = `lib-storage-default-${size}`;
      await new Upload({ client, params: { Bucket: bucket, Key: key, Body: dataStream(size) }, partSize: 5 * MiB }).done();
      const stored = await collect((await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body as Readable);
      t.equal(stored.length, size, `${size} bytes: length`);
      t.equal(sha256(stored), dataSha256(size), `${size} bytes: content`);
    }
  });
}
