// Over plain http the multipart writer takes each part's sha256 itself, piece by piece as the
// part fills, and sends it as the part's signed payload hash (x-amz-content-sha256). Ceph RGW
// recomputes that hash from the body it receives and refuses a part that does not match: the
// control below shows it does. So an upload whose pieces straddle part boundaries (odd piece
// sizes, a piece larger than a part, a short last part) completing on RGW, and coming back
// byte-exact, proves every hash covered exactly its part's bytes.
import { CreateMultipartUploadCommand, GetObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import t from 'tap';
import { partPayload, signsPayloads, writeObject } from '../../src/store/multipart-writer.ts';
import { PartPool } from '../../src/store/part-pool.ts';
import { s3ClientConfig } from '../../src/store/s3-store.ts';
import { rgwForThisFile } from '../support/rgw/for-tests.ts';
import { uniqueBucketName, type S3TestServer } from '../support/s3-server.ts';
import { MiB } from './fixtures/data.ts';

const server = await rgwForThisFile(t);
if (server) await tests(server);

/** Pieces of awkward sizes: one smaller than a part, one larger than a part, primes. */
function pieces(): Buffer[] {
  const sizes = [300 * 1024 + 7, 6 * MiB + 13, 1, 2 * MiB - 1, 999_983, 3 * MiB];
  return sizes.map((size, i) => {
    const piece = Buffer.alloc(size);
    for (let at = 0; at < size; at += 32) createHash('sha256').update(`${i}:${at}`).digest().copy(piece, at);
    return piece;
  });
}

async function tests(server: S3TestServer): Promise<void> {
  const bucket = uniqueBucketName('postmortem-part-hash');
  await server.createBucket(bucket);
  const client = new S3Client(s3ClientConfig(server.target(bucket)));
  t.teardown(() => client.destroy());

  t.test('RGW checks a signed part payload hash: a wrong one is refused, the right one taken', async (t) => {
    t.equal(await signsPayloads(client), true, 'the test RGW is plain http');
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'control' }));
    const body = Buffer.alloc(5 * MiB, 1);
    const wrong = createHash('sha256').update('not the body').digest('hex');
    await t.rejects(client.send(partPayload(new UploadPartCommand({ Bucket: bucket, Key: 'control', UploadId, PartNumber: 1, Body: body, ContentLength: body.length }), wrong)),
      { name: /SHA256|Mismatch|BadDigest|SignatureDoesNotMatch/i });
    const right = createHash('sha256').update(body).digest('hex');
    const taken = await client.send(partPayload(new UploadPartCommand({ Bucket: bucket, Key: 'control', UploadId, PartNumber: 1, Body: body, ContentLength: body.length }), right));
    t.ok(taken.ETag, 'the same part with its own hash is taken');
  });

  t.test('parts hashed while they fill: every part accepted, the object byte-exact', async (t) => {
    const source = pieces();
    const total = source.reduce((sum, p) => sum + p.length, 0);
    const expected = createHash('sha256');
    for (const p of source) expected.update(p);
    const pool = new PartPool(5 * MiB, 2);
    const read = await writeObject({ client, pool, params: { Bucket: bucket, Key: 'straddling' }, body: Readable.from(source, { objectMode: false }) });
    t.equal(read, total);
    t.equal(pool.allocatedCount, 2, 'within the pool');
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'straddling' }));
    t.match(got.ETag, new RegExp(`-${Math.ceil(total / (5 * MiB))}"$`), `${Math.ceil(total / (5 * MiB))} parts`);
    const downloaded = createHash('sha256');
    let bytes = 0;
    for await (const chunk of got.Body as AsyncIterable<Buffer>) { downloaded.update(chunk); bytes += chunk.length; }
    t.equal(bytes, total);
    t.equal(downloaded.digest('hex'), expected.digest('hex'), 'downloaded byte-exact');
  });
}
