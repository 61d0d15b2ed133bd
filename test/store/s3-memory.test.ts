// Memory stays bounded while streaming a large artifact: the budget is partSize × queueSize
// (lib-storage holds that many parts in flight), not the artifact's size.
import { Readable } from 'node:stream';
import t from 'tap';
import { storeArtifact, type ArtifactSpec } from '../../src/store/pipeline.ts';
import { createS3Store } from '../../src/store/s3-store.ts';
import { startS3Server, uniqueBucketName } from '../support/s3-server.ts';
import { MiB, dataChunks, dataSha256, streamDigest } from './fixtures/data.ts';
import { startLoopbackProxy } from './fixtures/loopback-proxy.ts';

const server = await startS3Server();
t.teardown(() => server.stop());
const bucket = uniqueBucketName('postmortem-memory');
await server.createBucket(bucket);

const PART = 8 * MiB;
const QUEUE = 4;
const BUDGET = PART * QUEUE;
const SIZE = 256 * MiB;
const reader = createS3Store(server.target(bucket), { partSize: PART, queueSize: QUEUE });
t.teardown(() => reader.close());

interface Measured {
  record: Awaited<ReturnType<typeof storeArtifact>>;
  rssGrowth: number;
  /** Most bytes ever taken from the source but not yet received by the server. */
  maxInFlight: number;
  seconds: number;
}

/** Streams `spec` through a counting proxy, sampling RSS and bytes in flight. */
async function measure(spec: Omit<ArtifactSpec, 'source'>, source: Iterable<Buffer>): Promise<Measured> {
  let pulled = 0;
  let received = 0;
  let maxInFlight = 0;
  const proxy = await startLoopbackProxy(server.endpoint, undefined, (bytes) => (received += bytes));
  const store = createS3Store(server.target(bucket, { endpoint: proxy.endpoint }), { partSize: PART, queueSize: QUEUE });
  const counted = Readable.from(
    (function* () {
      for (const chunk of source) {
        pulled += chunk.length;
        maxInFlight = Math.max(maxInFlight, pulled - received);
        yield chunk;
      }
    })(),
    { objectMode: false },
  );
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
  const started = performance.now();
  try {
    const record = await storeArtifact(store, 'memory', { ...spec, source: counted });
    peak = Math.max(peak, process.memoryUsage.rss());
    return { record, rssGrowth: peak - baseline, maxInFlight, seconds: (performance.now() - started) / 1000 };
  } finally {
    clearInterval(sampler);
    store.close();
    await proxy.stop();
  }
}

const mb = (bytes: number): string => (bytes / MiB).toFixed(1);

// Warm up: load the SDK and open sockets, so the baseline is not the cost of the first call.
await measure({ name: 'warmup', contentType: 'application/octet-stream', encoding: 'raw' }, dataChunks(3 * PART));

// In flight: parts being sent (queueSize) + the part being assembled + stream buffers.
const IN_FLIGHT_LIMIT = (QUEUE + 1) * PART + 2 * MiB;

t.test(`${mb(SIZE)} MiB raw stream: buffered bytes stay within (queueSize + 1) × partSize`, async (t) => {
  const m = await measure({ name: 'big.bin', contentType: 'application/octet-stream', encoding: 'raw' }, dataChunks(SIZE, 'random', 11));
  t.comment(
    `raw: ${mb(SIZE)} MiB in ${m.seconds.toFixed(1)} s (${(SIZE / MiB / m.seconds).toFixed(0)} MiB/s via the counting proxy); ` +
      `at most ${mb(m.maxInFlight)} MiB in flight; RSS +${mb(m.rssGrowth)} MiB peak; budget partSize × queueSize = ${mb(BUDGET)} MiB`,
  );
  t.equal(m.record.size, SIZE);
  t.ok(m.maxInFlight <= IN_FLIGHT_LIMIT, `${mb(m.maxInFlight)} MiB in flight <= ${mb(IN_FLIGHT_LIMIT)} MiB`);
  // RSS also carries garbage the GC has not collected yet (freed 64 KiB chunks and parts),
  // so it is only checked to be well below the file size, the failure this test is about.
  t.ok(m.rssGrowth < SIZE / 2, `RSS growth ${mb(m.rssGrowth)} MiB is far below the ${mb(SIZE)} MiB streamed`);
  t.equal(m.record.sha256, dataSha256(SIZE, 'random', 11));
  t.same(await streamDigest(await reader.get(m.record.key)), { sha256: m.record.sha256, bytes: SIZE }, 'stored bytes equal the source');
});

t.test(`${mb(SIZE)} MiB compressed on the way (gzip level 1): same bound`, async (t) => {
  const m = await measure({ name: 'big.log', contentType: 'text/plain', encoding: 'compress', gzipLevel: 1 }, dataChunks(SIZE, 'heapish', 12));
  t.comment(
    `compress: ${mb(SIZE)} MiB -> ${mb(m.record.storedSize)} MiB (${(SIZE / m.record.storedSize).toFixed(2)}x) in ${m.seconds.toFixed(1)} s ` +
      `(${(SIZE / MiB / m.seconds).toFixed(0)} MiB/s of content); RSS +${mb(m.rssGrowth)} MiB peak`,
  );
  t.ok(m.rssGrowth < SIZE / 2, `RSS growth ${mb(m.rssGrowth)} MiB is far below the ${mb(SIZE)} MiB streamed`);
  t.equal(m.record.sha256, dataSha256(SIZE, 'heapish', 12));
});
