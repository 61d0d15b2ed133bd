// What Ceph RGW 16.2 does differently from AWS, proven on a real RGW, each next to the client
// setting or store behaviour that copes with it:
// - a streamed PutObject with the SDK's default checksums is sent aws-chunked without a
//   Content-Length: RGW answers 411; requestChecksumCalculation 'WHEN_REQUIRED' sends it plain;
// - CompleteMultipartUpload answers an empty ETag: the store checks the object with HeadObject;
// - a `localhost` endpoint with virtual-host addressing sends requests to bucket.localhost:
//   custom endpoints get path-style addressing from our config.
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import dns from 'node:dns';
import http from 'node:http';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { parseConfig } from '../../src/config/parse.ts';
import { createS3Store, s3ClientConfig } from '../../src/store/s3-store.ts';
import { rgwForThisFile } from '../support/rgw/for-tests.ts';
import { uniqueBucketName, type S3TestServer } from '../support/s3-server.ts';
import { MiB, collect, dataSha256, dataStream, sha256, streamDigest } from './fixtures/data.ts';
import { startLoopbackProxy } from './fixtures/loopback-proxy.ts';

const server = await rgwForThisFile(t);
if (server) await tests(server);

async function tests(server: S3TestServer): Promise<void> {
  const bucket = uniqueBucketName('postmortem-rgw-compat');
  await server.createBucket(bucket);
  const target = server.target(bucket);
  /** What anyone using the SDK would write: no checksum settings. */
  const sdkDefaults = (endpoint = server.endpoint): S3ClientConfig => ({
    region: target.region,
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
  const ours = s3ClientConfig(target);
  const SIZE = 100_000;

  function client(t: Test, config: S3ClientConfig): S3Client {
    const c = new S3Client(config);
    t.teardown(() => c.destroy());
    return c;
  }

  async function exists(key: string): Promise<boolean> {
    const c = new S3Client(ours);
    try {
      await c.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw error;
    } finally {
      c.destroy();
    }
  }

  t.test('streamed PutObject with the SDK default checksums: RGW answers 411 Length Required', async (t) => {
    const error = await client(t, sdkDefaults())
      .send(new PutObjectCommand({ Bucket: bucket, Key: 'default-checksum', Body: dataStream(SIZE), ContentLength: SIZE }))
      .catch((e: unknown) => e);
    t.type(error, Error, 'the upload fails');
    t.equal((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 411);
    t.equal((error as Error).name, 'MissingContentLength');
    t.equal(await exists('default-checksum'), false, 'nothing stored');

    // The same request through a recording proxy shows why: aws-chunked framing with a CRC32
    // trailer, so the body's length on the wire is not announced.
    const proxy = await startLoopbackProxy(server.endpoint);
    t.teardown(() => proxy.stop());
    await client(t, sdkDefaults(proxy.endpoint))
      .send(new PutObjectCommand({ Bucket: bucket, Key: 'default-checksum', Body: dataStream(SIZE), ContentLength: SIZE }))
      .catch(() => undefined);
    const put = proxy.seen.find((r) => r.method === 'PUT');
    t.match(put?.headers['content-encoding'], /aws-chunked/);
    t.equal(put?.headers['x-amz-trailer'], 'x-amz-checksum-crc32');
    t.equal(put?.headers['x-amz-decoded-content-length'], String(SIZE));
    t.equal(put?.headers['content-length'], undefined, 'no Content-Length');
  });

  t.test("the same streamed PutObject with our client settings ('WHEN_REQUIRED') stores exactly the source bytes", async (t) => {
    t.equal(ours.requestChecksumCalculation, 'WHEN_REQUIRED');
    t.equal(ours.responseChecksumValidation, 'WHEN_REQUIRED');
    const c = client(t, ours);
    await c.send(new PutObjectCommand({ Bucket: bucket, Key: 'our-checksum', Body: dataStream(SIZE, 'random', 7), ContentLength: SIZE }));
    const stored = await collect((await c.send(new GetObjectCommand({ Bucket: bucket, Key: 'our-checksum' }))).Body as Readable);
    t.equal(stored.length, SIZE);
    t.equal(sha256(stored), dataSha256(SIZE, 'random', 7), 'byte-exact');
  });

  t.test('CompleteMultipartUpload through lib-storage returns an empty ETag; HeadObject has the real one', async (t) => {
    const c = client(t, ours);
    const size = 12 * MiB;
    const result = await new Upload({ client: c, params: { Bucket: bucket, Key: 'multipart', Body: dataStream(size) }, partSize: 5 * MiB }).done();
    t.equal(result.ETag, '', 'RGW 16.2: empty ETag in the CompleteMultipartUpload answer');
    const head = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: 'multipart' }));
    t.match(head.ETag, /^"[0-9a-f]{32}-3"$/, 'HeadObject: the multipart ETag of 3 parts');
    t.equal(head.ContentLength, size);
  });

  t.test('createS3Store.put is verified by HeadObject despite the empty ETag', async (t) => {
    const proxy = await startLoopbackProxy(server.endpoint);
    t.teardown(() => proxy.stop());
    const store = createS3Store(server.target(bucket, { endpoint: proxy.endpoint }), { partSize: 5 * MiB, queueSize: 2 });
    t.teardown(() => store.close());
    const size = 12 * MiB + 4321;
    const result = await store.put({ key: 'stored/multipart.bin', body: dataStream(size, 'random', 11), contentType: 'application/octet-stream' });
    t.same(result, { location: `s3://${bucket}/stored/multipart.bin`, storedBytes: size, verified: true });
    t.ok(
      proxy.seen.some((r) => r.method === 'POST' && r.query.has('uploadId')),
      'it was a multipart upload (CompleteMultipartUpload seen)',
    );
    t.equal(proxy.seen.at(-1)?.method, 'HEAD', 'then HeadObject');
    t.equal((await store.head('stored/multipart.bin'))?.size, size);
    t.same(await streamDigest(await store.get('stored/multipart.bin')), { sha256: dataSha256(size, 'random', 11), bytes: size });
  });

  t.test('a localhost endpoint: virtual-host addressing fails, our config (path style) works', async (t) => {
    const endpoint = `http://localhost:${new URL(server.endpoint).port}`;
    // Name lookups stay on this machine: "localhost" from /etc/hosts, anything else is
    // answered "not found" here instead of asking the network's DNS server.
    const asked: string[] = [];
    const lookup = ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
      asked.push(hostname);
      if (hostname === 'localhost') return dns.lookup(hostname, options, callback as never);
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }));
    }) as unknown as typeof dns.lookup;
    const requestHandler = new NodeHttpHandler({ httpAgent: new http.Agent({ lookup } as http.AgentOptions) });
    const virtualHost = client(t, { ...ours, endpoint, forcePathStyle: false, requestHandler });
    const error = await virtualHost.send(new PutObjectCommand({ Bucket: bucket, Key: 'vhost', Body: 'x' })).catch((e: unknown) => e);
    t.type(error, Error, 'fails');
    t.ok(asked.includes(`${bucket}.localhost`), `the SDK looked up ${bucket}.localhost, not our server (${asked.join(', ')})`);
    t.match(error, { code: 'ENOTFOUND' });

    const { config } = parseConfig({
      POSTMORTEM_STORE: `s3://${bucket}/via-config`,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
      AWS_REGION: server.region,
    });
    if (config.store.kind !== 's3') throw new Error(`expected an S3 store, got ${config.store.kind}`);
    t.equal(config.store.endpoint, endpoint);
    t.equal(config.store.forcePathStyle, true, 'path style for a custom endpoint');
    const store = createS3Store(config.store, { partSize: 5 * MiB, queueSize: 1 });
    t.teardown(() => store.close());
    const result = await store.put({ key: 'via-config/hello.txt', body: dataStream(1000, 'random', 3), contentType: 'text/plain' });
    t.equal(result.verified, true);
    t.equal(sha256(await collect(await store.get('via-config/hello.txt'))), dataSha256(1000, 'random', 3));
  });
}
