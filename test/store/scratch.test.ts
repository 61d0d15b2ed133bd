import t from 'tap';
import { storeArtifact } from '../../src/store/pipeline.ts';
import { createS3Store } from '../../src/store/s3-store.ts';
import { startS3Server } from '../support/s3-server.ts';
import { MiB, dataStream } from './data.ts';
const server = await startS3Server();
t.teardown(() => server.stop());
await server.createBucket('bucket1');
const PART = Number(process.env.PART ?? 8) * MiB, QUEUE = Number(process.env.QUEUE ?? 4);
const store = createS3Store(server.target('bucket1'), { partSize: PART, queueSize: QUEUE });
t.teardown(() => store.close());
await storeArtifact(store, 'm', { name: 'w', source: dataStream(3 * PART), contentType: 'x', encoding: 'raw' });
const g = (globalThis as any).gc; if (g && process.env.GCI) setInterval(g, Number(process.env.GCI)).unref();
for (const size of [256 * MiB, 512 * MiB]) {
  const base = process.memoryUsage();
  let peak = { rss: 0, ab: 0, heap: 0 };
  const iv = setInterval(() => { const m = process.memoryUsage(); peak = { rss: Math.max(peak.rss, m.rss), ab: Math.max(peak.ab, m.arrayBuffers), heap: Math.max(peak.heap, m.heapUsed) }; }, 5);
  const t0 = performance.now();
  await storeArtifact(store, 'm', { name: 'b', source: dataStream(size), contentType: 'x', encoding: 'raw' });
  clearInterval(iv);
  console.log(`size ${size / MiB} part ${PART / MiB} q ${QUEUE}: rss base ${(base.rss / MiB).toFixed(0)} +${((peak.rss - base.rss) / MiB).toFixed(0)}, arrayBuffers base ${(base.arrayBuffers / MiB).toFixed(0)} peak ${(peak.ab / MiB).toFixed(0)}, heap peak ${(peak.heap / MiB).toFixed(0)}, ${((performance.now() - t0) / 1000).toFixed(1)}s`);
}
t.pass();
