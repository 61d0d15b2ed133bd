// Faults injected by a loopback proxy in front of the real S3 server: throttling and 5xx
// answers are retried by the SDK's own strategy, slow answers are waited for, and a store
// that keeps failing ends in a clear error with the multipart upload aborted.
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { storeArtifact } from '../../src/store/pipeline.ts';
import { createS3Store } from '../../src/store/s3-store.ts';
import { StoreError } from '../../src/store/store.ts';
import { startS3Server, uniqueBucketName } from '../support/s3-server.ts';
import { MiB, dataSha256, dataStream } from './fixtures/data.ts';
import { startLoopbackProxy, type SeenRequest } from './fixtures/loopback-proxy.ts';

const server = await startS3Server({ kind: 'best' });
t.teardown(() => server.stop());
const bucket = uniqueBucketName('faults');
await server.createBucket(bucket);

const isPart = (r: SeenRequest) => r.method === 'PUT' && r.query.has('partNumber');

t.test('503 SlowDown and 500 on parts are retried; the object is complete and exact', async (t) => {
  let refused = 0;
  // Every third part request fails once with 503, and the first completion with 500.
  const failedOnce = new Set<string>();
  const proxy = await startLoopbackProxy(server.endpoint, (r) => {
    if (isPart(r)) {
      const id = `part-${r.query.get('partNumber')}`;
      if (Number(r.query.get('partNumber')) % 3 === 1 && !failedOnce.has(id)) { failedOnce.add(id); refused++; return 503; }
    }
    if (r.method === 'POST' && r.query.has('uploadId') && !failedOnce.has('complete')) { failedOnce.add('complete'); refused++; return 500; }
    return undefined;
  });
  t.teardown(() => proxy.stop());
  const store = createS3Store(server.target(bucket, { endpoint: proxy.endpoint }), { partSize: 5 * MiB, queueSize: 2 });
  t.teardown(() => store.close());
  const size = 23 * MiB;
  const record = await storeArtifact(store, 'faults/retry', { name: 'core', source: dataStream(size, 'random', 7), contentType: 'application/octet-stream', encoding: 'raw' });
  t.ok(refused >= 3, `${refused} requests refused by the proxy`);
  const parts = proxy.seen.filter(isPart);
  t.ok(parts.length > 5, `parts sent ${parts.length} times for 5 parts (retries happened)`);
  t.equal(record.size, size);
  t.equal(record.sha256, dataSha256(size, 'random', 7));
  t.ok(record.verified);
});

t.test('a slow store is waited for, not abandoned', async (t) => {
  const delayed = await startDelayingProxy(server.endpoint, 1500);
  t.teardown(() => delayed.stop());
  const store = createS3Store(server.target(bucket, { endpoint: delayed.endpoint }), { partSize: 5 * MiB, queueSize: 2 });
  t.teardown(() => store.close());
  const started = Date.now();
  const record = await storeArtifact(store, 'faults/slow', { name: 'log', source: dataStream(6 * MiB, 'heapish', 3), contentType: 'text/plain', encoding: 'raw' });
  t.ok(Date.now() - started >= 1500, 'the delay was real');
  t.equal(record.sha256, dataSha256(6 * MiB, 'heapish', 3));
});

t.test('a store that keeps failing: clear StoreError after the retries, multipart upload aborted', async (t) => {
  const proxy = await startLoopbackProxy(server.endpoint, (r) => (isPart(r) ? 500 : undefined));
  t.teardown(() => proxy.stop());
  const store = createS3Store(server.target(bucket, { endpoint: proxy.endpoint }), { partSize: 5 * MiB, queueSize: 2, maxAttempts: 3 });
  t.teardown(() => store.close());
  const error = await storeArtifact(store, 'faults/broken', { name: 'heap.hprof', source: dataStream(12 * MiB, 'random', 9), contentType: 'application/octet-stream', encoding: 'raw' })
    .then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof StoreError, `StoreError: ${String(error)}`);
  t.match(String((error as Error).message), new RegExp(`s3://${bucket}/faults/broken/heap\\.hprof`));
  const tries = proxy.seen.filter((r) => isPart(r) && r.query.get('partNumber') === '1').length;
  t.equal(tries, 3, 'part 1 tried exactly maxAttempts times');
  // The multipart writer sends AbortMultipartUpload before the upload rejects: no wait needed.
  t.ok(proxy.seen.some((r) => r.method === 'DELETE' && r.query.has('uploadId')), 'AbortMultipartUpload sent');
  t.notOk(proxy.seen.some((r) => r.method === 'POST' && r.query.has('uploadId')), 'never completed');
});

/** A proxy that holds every answer back for `ms` (a congested or distant store). */
async function startDelayingProxy(upstream: string, ms: number) {
  const inner = await startLoopbackProxy(upstream);
  const http = await import('node:http');
  const target = new URL(inner.endpoint);
  const agent = new http.Agent({ keepAlive: true }); // closed by stop(), like the inner proxy's
  const server = http.createServer((req, res) => {
    const forward = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent }, (up) => {
      setTimeout(() => { res.writeHead(up.statusCode ?? 502, up.headers); up.pipe(res); }, ms);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => { server.closeAllConnections(); agent.destroy(); await new Promise<void>((r) => server.close(() => r())); await inner.stop(); },
  };
}

t.test('a black-hole store: every call ends at the caller\'s deadline, an abandoned multipart upload is aborted at once', async (t) => {
  const { startFaultProxy } = await import('../support/fault-proxy.ts');
  const proxy = await startFaultProxy(server.endpoint, bucket);
  t.teardown(() => proxy.stop());
  const store = createS3Store(server.target(bucket, { endpoint: proxy.endpoint }), { partSize: 5 * MiB, queueSize: 2 });
  t.teardown(() => store.close());

  proxy.rule = () => ({ kind: 'black-hole' });
  const head = await store.head('faults/anything', { signal: AbortSignal.timeout(500), timeoutMs: 500 }).then(() => 'answered', (e: unknown) => e);
  t.type(head, StoreError, `head ends with an error at its deadline: ${String(head)}`);

  // Parts never answered; creating and aborting the upload pass: the abort is what we check.
  proxy.rule = (r) => (r.query.has('partNumber') ? { kind: 'black-hole' } : undefined);
  const controller = new AbortController();
  const abandoned = storeArtifact(store, 'faults/abandoned', { name: 'core', source: dataStream(12 * MiB, 'random', 5), contentType: 'application/octet-stream', encoding: 'raw' }, { signal: controller.signal });
  while (!proxy.seen.some((r) => r.query.has('partNumber'))) await sleep(20);
  controller.abort(new Error('deadline'));
  const error = await abandoned.then(() => undefined, (e: unknown) => e);
  t.match(String(error), /was aborted \(deadline\)/);
  t.ok(proxy.seen.some((r) => r.method === 'DELETE' && r.query.has('uploadId')), 'AbortMultipartUpload sent before the call returned');
});
