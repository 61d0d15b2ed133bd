// Our upload path on its own: the same store and pipeline the watchdog uses (src/store),
// reading a finished file. The benchmark bundles this file with esbuild and runs it on the
// droplet's Node.js with the watchdog's flags, under /usr/bin/time.
//
//   node upload.mjs FILE PREFIX raw|gzip1|gzip1-histogram|histogram-only
//   (gzip1-histogram: with the heap histogram observing the pass, as the watchdog does for a
//   heap dump; histogram-only: the parser alone over the file, nothing uploaded)
//   env BENCH_S3 = {"endpoint","region","accessKeyId","secretAccessKey","bucket"} (JSON)
//   optional BENCH_PART_SIZE, BENCH_QUEUE_SIZE (default: the product's, src/config/parse.ts)
// Prints one JSON line: what storeArtifact returned, and anonPeakBytes: the highest RssAnon
// (the process's own memory, no shared text pages) seen by sampling itself every 25 ms.
import { createReadStream, readFileSync } from 'node:fs';
import { createS3Store } from '../../src/store/s3-store.ts';
import { storeArtifact } from '../../src/store/pipeline.ts';
import { HeapHistogramTap } from '../../src/capture/heap-histogram.ts';
import { DEFAULTS } from '../../src/config/parse.ts';
import { followGrowingFile } from '../../src/capture/growing-file.ts';

/** The watchdog's read size for a dump (src/capture/growing-file.ts), given explicitly so the parser-only mode reads the same. */
const READ_CHUNK = 256 * 1024;

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

interface S3Info { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string; bucket: string }

const [file, prefix, mode] = process.argv.slice(2);
if (!file || !prefix || !['raw', 'gzip1', 'gzip1-histogram', 'histogram-only'].includes(mode ?? '')) {
  process.stderr.write('usage: upload.mjs FILE PREFIX raw|gzip1|gzip1-histogram|histogram-only (BENCH_S3 in the environment)\n');
  process.exit(2);
}
const histogram = mode?.includes('histogram') ? HeapHistogramTap.for('heap.hprof') : undefined;
if (mode === 'histogram-only') {
  const started = performance.now();
  for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK })) await histogram!.observe(chunk as Buffer);
  const result = await histogram!.finish();
  const top = result.entries[0];
  process.stdout.write(`${JSON.stringify({ bytes: result.totals.bytesRead, parseMs: performance.now() - started, complete: result.complete, objects: result.totals.objects, top: top?.name })}\n`);
  process.exit(0);
}
let anonPeakBytes = 0;
const sampleAnon = () => {
  const kib = Number(/^RssAnon:\s*(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
  anonPeakBytes = Math.max(anonPeakBytes, kib * 1024);
};
setInterval(sampleAnon, 25).unref();
const s3 = JSON.parse(process.env['BENCH_S3'] ?? '{}') as S3Info;
const store = createS3Store(
  {
    kind: 's3', bucket: s3.bucket, prefix: '', endpoint: s3.endpoint, region: s3.region, forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, source: 'bench',
  },
  { partSize: Number(process.env['BENCH_PART_SIZE'] ?? DEFAULTS.partSize), queueSize: Number(process.env['BENCH_QUEUE_SIZE'] ?? DEFAULTS.queueSize) },
);
try {
  // Read as the watchdog reads a dump it found finished: followed, already complete, each
  // chunk handed back once the store has it (src/capture/growing-file.ts).
  const followed = followGrowingFile(file, { chunkSize: READ_CHUNK });
  followed.complete();
  const record = await storeArtifact(store, prefix, {
    name: 'heap.hprof',
    source: followed.stream,
    release: followed.release,
    contentType: 'application/octet-stream',
    encoding: mode === 'raw' ? 'raw' : 'compress',
    gzipLevel: 1,
    ...(histogram ? { observe: histogram.observe } : {}),
  });
  const parsed = await histogram?.finish();
  sampleAnon();
  process.stdout.write(`${JSON.stringify({ ...record, anonPeakBytes, ...(parsed ? { histogramComplete: parsed.complete, histogramObjects: parsed.totals.objects } : {}) })}\n`);
} finally {
  store.close();
}
