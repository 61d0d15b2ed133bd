// Side bench for the crash path's peak memory (issues 10/12): follows a file that another
// process writes at a fixed rate through the real one-pass pipeline (follow -> content hash +
// inline heap-histogram observer -> parallel compress -> store hash -> file store), sampling
// this process's RssAnon / VmRSS every 50 ms. Bundled and run by the vendored runtime with the
// watchdog's NODE_FLAGS, so A/B of read / compress garbage takes seconds, not a JVM crash.
// The pipeline is imported directly, not through src/capture/uploading.ts, so V8 flags are
// what the run is given: XSETFLAG=<flag> sets one at run time as the upload path would.
// XLATE=1: churn through a few collections first (the watchdog sets the flag long after start).
// XNORELEASE=1: read chunks are not handed back (a new buffer per read, as before e6afdda).
//   npx esbuild bench/measure/follow-rss.ts --bundle --platform=node --format=esm --outfile=x.mjs
//   XSETFLAG=... <runtime>/bin/node --max-semi-space-size=1 x.mjs <source file> <work dir> [MB/s]
// Figures and the source file used: bench/README.md (row 1, peak RSS).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { followGrowingFile } from '../../src/capture/growing-file.ts';
import { HeapHistogramTap } from '../../src/capture/heap-histogram.ts';
import { createFileStore } from '../../src/store/file-store.ts';
import { storeArtifact } from '../../src/store/pipeline.ts';

const [source, work, rate = '300'] = process.argv.slice(2);
if (process.env.XLATE) {
  // As in the watchdog, the flag is set long after start-up: churn through a few collections first.
  for (let i = 0; i < 200; i++) { Array.from({ length: 10_000 }, (_, k) => ({ k })); Buffer.alloc(256 * 1024); await new Promise((r) => setImmediate(r)); }
}
if (process.env.XSETFLAG) (await import('node:v8')).setFlagsFromString(process.env.XSETFLAG);
if (!source || !work) throw new Error('usage: follow-rss.mjs <source file> <work dir> [MB/s]');

function status(): { anon: number; rss: number } {
  const text = readFileSync('/proc/self/status', 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)?.[1] ?? 0);
  return { anon: kib('RssAnon') / 1024, rss: kib('VmRSS') / 1024 };
}

const peak = { anon: 0, rss: 0, external: 0, arrayBuffers: 0 };
const sampler = setInterval(() => {
  const s = status();
  const m = process.memoryUsage();
  peak.anon = Math.max(peak.anon, s.anon);
  peak.rss = Math.max(peak.rss, s.rss);
  peak.external = Math.max(peak.external, m.external / 2 ** 20);
  peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers / 2 ** 20);
}, 50);

await rm(work, { recursive: true, force: true });
await mkdir(path.join(work, 'store'), { recursive: true });
const growing = path.join(work, 'heap.hprof');
await writeFile(growing, '');
const before = status();
// The writer: 1 MiB writes paced to `rate` MB/s, like a JVM writing its dump.
const writer = spawn(process.execPath, ['-e', `
const fs = require('node:fs');
const src = fs.openSync(process.argv[1], 'r'), dst = fs.openSync(process.argv[2], 'a');
const buf = Buffer.alloc(1 << 20), rate = Number(process.argv[3]) * 1e6, t0 = Date.now();
let done = 0;
function step() {
  for (;;) {
    const n = fs.readSync(src, buf, 0, buf.length, done);
    if (n === 0) return;
    fs.writeSync(dst, buf, 0, n);
    done += n;
    const ahead = done / rate * 1000 - (Date.now() - t0);
    if (ahead > 2) return setTimeout(step, ahead);
  }
}
step();
`, source, growing, rate], { stdio: 'inherit' });
const followed = followGrowingFile(growing);
writer.on('exit', () => followed.complete());
const histogram = HeapHistogramTap.for('heap.hprof');
const store = createFileStore({ kind: 'file', root: path.join(work, 'store'), prefix: '', source: 'bench' });
const started = Date.now();
const record = await storeArtifact(store, 'crash', {
  name: 'heap.hprof', source: followed.stream, ...(process.env.XNORELEASE ? {} : { release: followed.release }), contentType: 'application/octet-stream', encoding: 'compress',
  ...(histogram ? { observe: histogram.observe } : {}),
});
const ms = Date.now() - started;
await histogram?.finish();
clearInterval(sampler);
console.log(JSON.stringify({
  ms, cpuMs: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1000), size: record.size, stored: record.storedSize,
  startAnon: +before.anon.toFixed(1), peakAnon: +peak.anon.toFixed(1), peakRss: +peak.rss.toFixed(1),
  peakExternal: +peak.external.toFixed(1), peakArrayBuffers: +peak.arrayBuffers.toFixed(1),
}));
await rm(work, { recursive: true, force: true });
