// Proves on a real server why s3ClientConfig sets requestChecksumCalculation 'WHEN_REQUIRED':
// with the SDK default a streamed PutObject is sent aws-chunked with a CRC32 trailer, which
// s3rver stores inside the object (RGW answers 411). The same request with our settings
// stores exactly the source bytes.
import { GetObjectCommand, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import t from 'tap';
import { s3ClientConfig } from '../../src/store/s3-store.ts';
import { startS3Server, uniqueBucketName } from '../support/s3-server.ts';
import { MiB, collect, dataSha256, dataStream, sha256 } from './fixtures/data.ts';

const server = await startS3Server();
t.teardown(() => server.stop());
const bucket = uniqueBucketName('postmortem-checksum');
await server.createBucket(bucket);
const target = server.target(bucket);

/** Only what any user of the SDK would set: no checksum settings. */
const sdkDefaults: S3ClientConfig = {
  region: target.region,
  endpoint: target.endpoint,
  forcePathStyle: true,
  credentials: target.credentials,
};

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

t.test('SDK default checksums: a streamed PutObject does not store the source bytes', async (t) => {
  let stored: Buffer | undefined;
  try {
    stored = await putStreamed(sdkDefaults, 'default-checksum');
  } catch (error) {
    // Ceph RGW refuses the aws-chunked request (411 Length Required) instead.
    t.comment(`the server refused it: ${(error as Error).message}`);
    t.pass('refused, not silently stored');
    return;
  }
  t.not(sha256(stored), dataSha256(SIZE), 'stored bytes differ from the source');
  t.ok(stored.length > SIZE, `${stored.length} bytes stored for ${SIZE} sent`);
  t.match(stored.subarray(0, 12).toString('latin1'), /^[0-9a-f]+\r\n/, 'starts with a chunk size in hex');
  t.match(stored.subarray(-60).toString('latin1'), /\r\n0\r\nx-amz-checksum-crc32:[A-Za-z0-9+/=]+\r\n\r\n$/, 'ends with the checksum trailer');
  t.equal(sha256(unchunk(stored)), dataSha256(SIZE), 'removing the aws-chunked framing gives the source back');
});

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

t.test('our client settings: the same streamed PutObject stores exactly the source bytes', async (t) => {
  const stored = await putStreamed(s3ClientConfig(target), 'our-checksum');
  t.equal(stored.length, SIZE);
  t.equal(sha256(stored), dataSha256(SIZE));
});

t.test('for the record: lib-storage with SDK defaults', async (t) => {
  // lib-storage cuts the stream into Buffers before sending, and a Buffer body gets a plain
  // checksum header instead of aws-chunked framing, so it survives the default on s3rver;
  // the store still uses WHEN_REQUIRED, for RGW and for any streamed call.
  const client = new S3Client(sdkDefaults);
  t.teardown(() => client.destroy());
  for (const size of [SIZE, 12 * MiB]) {
    const key = `lib-storage-default-${size}`;
    await new Upload({ client, params: { Bucket: bucket, Key: key, Body: dataStream(size) }, partSize: 5 * MiB }).done();
    const stored = await collect((await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body as Readable);
    t.comment(`${size} bytes via lib-storage with defaults: ${sha256(stored) === dataSha256(size) ? 'byte-exact' : `CHANGED (${stored.length} bytes)`}`);
  }
  t.pass();
});
