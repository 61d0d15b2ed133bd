// Server-side encryption on Ceph RGW 16.2, with keys from its built-in "testing" KMS backend
// (configured by test/support/rgw/start.sh). Besides what the S3 API says, the tests read the
// RADOS objects RGW wrote (`rados get`) to see whether the bytes at rest are encrypted.
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import t from 'tap';
import type { S3Target } from '../../src/config/types.ts';
import { storeArtifact, storeBytes } from '../../src/store/pipeline.ts';
import { createS3Store, s3ClientConfig } from '../../src/store/s3-store.ts';
import { StoreError, type Store } from '../../src/store/store.ts';
import { startLoopbackProxy } from './fixtures/loopback-proxy.ts';
import { rgwForThisFile } from '../support/rgw/for-tests.ts';
import { uniqueBucketName, type S3TestServer } from '../support/s3-server.ts';
import { MiB, collect, dataSha256, dataStream, streamDigest } from './fixtures/data.ts';

const run = promisify(execFile);

const server = await rgwForThisFile(t);
if (server) await tests(server);

async function tests(server: S3TestServer): Promise<void> {
  const { cephConf, kmsKeyId } = server;
  if (!cephConf || !kmsKeyId) throw new Error('the RGW test server must name its ceph.conf and KMS key id');
  const bucket = uniqueBucketName('postmortem-rgw-sse');
  await server.createBucket(bucket);
  const client = new S3Client(s3ClientConfig(server.target(bucket)));
  t.teardown(() => client.destroy());

  function open(t: { teardown(fn: () => unknown): void }, overrides: Partial<S3Target>): Store {
    const store = createS3Store(server.target(bucket, overrides), { partSize: 5 * MiB, queueSize: 2, maxAttempts: 1 });
    t.teardown(() => store.close());
    return store;
  }

  /** The RADOS objects holding an S3 object's data (head, multipart parts, their stripes). */
  async function atRest(key: string): Promise<Buffer> {
    // Bounded: by default the rados CLI waits for an unreachable cluster for minutes.
    const rados = ['--conf', cephConf as string, '--client_mount_timeout=20', '--rados_osd_op_timeout=30', '-p', 'default.rgw.buckets.data'];
    const { stdout } = await run('rados', [...rados, 'ls'], { timeout: 60_000 });
    const names = stdout.split('\n').filter((name) => name.includes(key));
    if (names.length === 0) throw new Error(`no RADOS object holds ${key}`);
    const parts = await Promise.all(
      names.map(async (name) => (await run('rados', [...rados, 'get', name, '-'], { encoding: 'buffer', maxBuffer: 64 * MiB, timeout: 60_000 })).stdout),
    );
    return Buffer.concat(parts);
  }

  /** A readable marker repeated, so plaintext at rest is easy to recognise. */
  const plaintext = (marker: string) => Buffer.from(`${marker} heap dump contents; `.repeat(2000));
  const unique = (name: string) => `${name}-${randomBytes(4).toString('hex')}`;

  t.test('SSE-KMS, single PUT: HeadObject says aws:kms with our key id, bytes read back, ciphertext at rest', async (t) => {
    const store = open(t, { serverSideEncryption: 'aws:kms', kmsKeyId });
    const key = unique('kms-small');
    const content = plaintext('KMS-SMALL');
    const record = await storeBytes(store, key, content, { contentType: 'text/plain' });
    t.equal(record.verified, true);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    t.equal(head.ServerSideEncryption, 'aws:kms');
    t.equal(head.SSEKMSKeyId, kmsKeyId);
    t.ok((await collect(await store.get(key))).equals(content), 'decrypted on the way out, byte-exact');
    const stored = await atRest(key);
    t.notOk(stored.includes('KMS-SMALL'), 'no plaintext in the RADOS objects');
    t.ok(stored.length >= content.length, `${stored.length} encrypted bytes at rest`);
  });

  t.test('SSE-KMS, multipart through storeArtifact: headers sent on CreateMultipartUpload, encrypted, byte-exact', async (t) => {
    const proxy = await startLoopbackProxy(server.endpoint);
    t.teardown(() => proxy.stop());
    const store = open(t, { endpoint: proxy.endpoint, serverSideEncryption: 'aws:kms', kmsKeyId });
    const size = 12 * MiB;
    const prefix = unique('kms-multipart');
    const record = await storeArtifact(store, prefix, { name: 'dump.txt', source: dataStream(size, 'heapish', 31), contentType: 'text/plain', encoding: 'raw' });
    t.equal(record.verified, true);
    const create = proxy.seen.find((r) => r.method === 'POST' && r.query.has('uploads'));
    t.equal(create?.headers['x-amz-server-side-encryption'], 'aws:kms', 'CreateMultipartUpload asks for aws:kms');
    t.equal(create?.headers['x-amz-server-side-encryption-aws-kms-key-id'], kmsKeyId);
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: record.key }));
    t.equal(head.ServerSideEncryption, 'aws:kms');
    t.equal(head.SSEKMSKeyId, kmsKeyId);
    t.same(await streamDigest(await store.get(record.key)), { sha256: dataSha256(size, 'heapish', 31), bytes: size }, 'byte-exact');
    const stored = await atRest(record.key);
    t.ok(stored.length >= size, `${stored.length} bytes at rest`);
    t.notOk(stored.includes('java.lang.String'), 'no plaintext in any part');
  });

  t.test('SSE-KMS with a key id the KMS does not know: a StoreError naming the key id, no object', async (t) => {
    const store = open(t, { serverSideEncryption: 'aws:kms', kmsKeyId: 'no-such-key' });
    const key = unique('kms-unknown');
    const error = await storeBytes(store, key, 'x', { contentType: 'text/plain' }).catch((e: unknown) => e);
    t.type(error, StoreError);
    // RGW answers 403 InvalidAccessKeyId for an unknown KMS key id; its message says which id.
    t.match((error as Error).message, /InvalidAccessKeyId: Failed to retrieve the actual key, kms-keyid: no-such-key \(HTTP 403\)/);
    t.match((error as Error).message, /The KMS key "no-such-key" \(POSTMORTEM_SSE_KMS_KEY_ID\) is unknown to the store/, 'the hint names the key id, not the credentials');
    t.equal(await store.head(key), undefined);
  });

  t.test('for the record: SSE-S3 (AES256) on RGW 16.2 is accepted but not applied', async (t) => {
    // RGW 16.2 has no SSE-S3 key management: it answers 200, echoes no encryption header, and
    // stores the bytes as they came. When this test fails, RGW has learned SSE-S3.
    const proxy = await startLoopbackProxy(server.endpoint);
    t.teardown(() => proxy.stop());
    const store = open(t, { endpoint: proxy.endpoint, serverSideEncryption: 'AES256' });
    const key = unique('aes256');
    const record = await storeBytes(store, key, plaintext('AES-PLAIN'), { contentType: 'text/plain' });
    t.equal(record.verified, true, 'the upload succeeds');
    t.equal(proxy.seen.find((r) => r.method === 'PUT')?.headers['x-amz-server-side-encryption'], 'AES256', 'AES256 was asked for');
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    t.equal(head.ServerSideEncryption, undefined, 'HeadObject reports no encryption');
    t.ok((await atRest(key)).includes('AES-PLAIN'), 'the bytes at rest are plaintext');
  });
}
