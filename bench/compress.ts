// Compression alone (issue 12): the store pipeline's 'compress' taps over a finished heap dump,
// single zlib stream vs ParallelCompress (gzip level 1 at several block sizes; zstd levels 1 and 3
// in 1 MiB blocks, POSTMORTEM_COMPRESSION=zstd), beside gzip -1, pigz -1 and zstd -1 run in the
// same invocation. Each variant is its own process, the Node.js ones on the vendored runtime (the
// watchdog's; zstd needs Node >= 22.15); variants rotate each round; figures are medians. No
// store: content HashTap -> compressor -> stored HashTap -> discard, the pipeline's pass minus
// the upload.
//
//   [BENCH_COMPRESS_MIB=256] npx tsx bench/compress.ts FILE [ROUNDS=3] [VARIANT,...]
//     -> table on stdout, bench/results-compress.{md,json}
//   <vendored node> bench/compress.ts --one VARIANT FILE BYTES   (internal: one run, one JSON line)
import { execa } from 'execa';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { ParallelCompress, defaultConcurrency } from '../src/store/parallel-compress.ts';
import { HashTap, ZLIB_CHUNK_SIZE } from '../src/store/taps.ts';
import { GiB, KiB, MiB, median } from './lib/stats.ts';

interface Run { seconds: number; cpuSeconds: number; stored: number; raw: number }

const NODE_VARIANTS: Record<string, () => Transform> = {
  'node single stream': () => createGzip({ level: 1, chunkSize: ZLIB_CHUNK_SIZE }),
  'parallel 256 KiB': () => new ParallelCompress({ level: 1, blockSize: 256 * KiB }),
  'parallel 1 MiB': () => new ParallelCompress({ level: 1, blockSize: MiB }),
  'parallel 4 MiB': () => new ParallelCompress({ level: 1, blockSize: 4 * MiB }),
  'parallel 8 MiB': () => new ParallelCompress({ level: 1, blockSize: 8 * MiB }),
  'zstd-1 parallel 1 MiB': () => new ParallelCompress({ codec: 'zstd', level: 1, blockSize: MiB }),
  'zstd-3 parallel 1 MiB': () => new ParallelCompress({ codec: 'zstd', level: 3, blockSize: MiB }),
  'deflate only, parallel 1 MiB': () => new ParallelCompress({ level: 1, blockSize: MiB }),
  'content sha256 only': () => new PassThrough(),
};
export const DEFLATE_ONLY = 'deflate only, parallel 1 MiB';
export const SHA256_ONLY = 'content sha256 only';
const TOOLS: Record<string, string> = { 'gzip -1': 'gzip -1', 'pigz -1': 'pigz -1', 'zstd -1': 'zstd -1 -q -c' };

async function one(variant: string, file: string, limit: number): Promise<Run> {
  const make = NODE_VARIANTS[variant];
  if (!make) throw new Error(`unknown variant ${variant}`);
  const content = new HashTap();
  const stored = new HashTap();
  const cpu = process.cpuUsage(); // the whole process: the main thread and libuv's pool
  const started = performance.now();
  // 1 MiB reads, like the watchdog's reader of a growing dump.
  const source = createReadStream(file, { highWaterMark: MiB, end: limit - 1 });
  let sunk = 0;
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => { sunk += chunk.length; cb(); } });
  // The floor's parts (bench/measure/crash.ts): the codec with no hash, and the content hash alone.
  if (variant === DEFLATE_ONLY) await pipeline(source, make(), sink);
  else if (variant === SHA256_ONLY) await pipeline(source, content, sink);
  else await pipeline(source, content, make(), stored, sink);
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6, stored: sunk, raw: limit };
}

async function tool(command: string, file: string, limit: number): Promise<Run> {
  const raw = Math.min(limit, (await stat(file)).size);
  // %e %U %S of the shell include its waited-for children (head, the compressor, wc).
  const { stdout, stderr } = await execa('/usr/bin/time', ['-f', '%e %U %S', 'sh', '-c', `head -c ${raw} "$0" | ${command} | wc -c`, file]);
  const [elapsed, user, sys] = stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  return { seconds: elapsed!, cpuSeconds: user! + sys!, stored: Number(stdout.trim()), raw };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--one') {
    process.stdout.write(`${JSON.stringify(await one(args[1]!, args[2]!, Number(args[3])))}\n`);
    return;
  }
  const file = args[0];
  // BENCH_COMPRESS_MIB: compress only the file's first MiBs, for shorter rounds and more of them.
  const limit = Math.min((await stat(file ?? '.')).size, Number(process.env['BENCH_COMPRESS_MIB'] ?? Infinity) * MiB);
  const rounds = Number(args[1] ?? 3);
  if (!file || !Number.isInteger(rounds) || rounds < 1) throw new Error('usage: tsx bench/compress.ts FILE [ROUNDS] [VARIANT,...]');
  const self = fileURLToPath(import.meta.url);
  const present: string[] = [];
  for (const name of Object.keys(TOOLS)) if (await execa('sh', ['-c', `command -v ${name.split(' ')[0]}`]).then(() => true, () => false)) present.push(name);
  const chosen = args[2]?.split(',');
  // The Node.js variants run on the runtime the watchdog runs on, which runs this file's TypeScript as is.
  const runtimeDir = await mkdtemp(path.join(tmpdir(), 'bench-compress-'));
  const { extractRuntime } = await import('../test/support/runtime.ts');
  const node = await extractRuntime(runtimeDir);
  const nodeVersion = (await execa(node, ['--version'])).stdout.trim();
  const variants = [...Object.keys(NODE_VARIANTS), ...present].filter((v) => v === 'node single stream' || !chosen || chosen.includes(v));
  await tool('cat', file, limit); // page cache: every variant reads from memory
  const runs = new Map<string, Run[]>(variants.map((v) => [v, []]));
  for (let round = 0; round < rounds; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!);
    for (const variant of order) {
      const run = TOOLS[variant]
        ? await tool(TOOLS[variant], file, limit)
        : (JSON.parse((await execa(node, [self, '--one', variant, file, String(limit)])).stdout) as Run);
      runs.get(variant)!.push(run);
      process.stderr.write(`round ${round + 1} ${variant}: ${run.seconds.toFixed(2)} s, ${run.cpuSeconds.toFixed(2)} CPU s\n`);
    }
  }
  await rm(runtimeDir, { recursive: true, force: true });
  const raw = limit;
  const rows = variants.map((variant) => {
    const r = runs.get(variant)!;
    const seconds = median(r.map((x) => x.seconds));
    return {
      variant,
      mbPerSecond: raw / 1e6 / seconds,
      // Each round's variants run back to back, so they share that moment's load on a shared
      // machine: the median of per-round ratios is steadier than the ratio of medians.
      perRound: median(r.map((x, i) => runs.get('node single stream')![i]!.seconds / x.seconds)),
      cpuSecondsPerGiB: median(r.map((x) => x.cpuSeconds)) / (raw / GiB),
      ratio: median(r.map((x) => x.stored)) / raw,
    };
  });
  const single = rows.find((r) => r.variant === 'node single stream')!;
  const lines = [
    `Compression alone over ${path.basename(file)} (first ${(raw / MiB).toFixed(0)} MiB), level 1 unless named, medians of ${rounds} runs; ` +
      `${availableParallelism()} cores, ParallelCompress concurrency ${defaultConcurrency()}, Node.js ${nodeVersion}; ${new Date().toISOString()}`,
    '',
    '| variant | MB/s | x single stream (medians) | x single stream (median of rounds) | CPU s/GiB | stored/raw |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.variant} | ${r.mbPerSecond.toFixed(0)} | ${(r.mbPerSecond / single.mbPerSecond).toFixed(2)} | ` +
      `${r.perRound.toFixed(2)} | ${r.cpuSecondsPerGiB.toFixed(2)} | ${r.ratio.toFixed(3)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const dir = path.dirname(self);
  await writeFile(path.join(dir, 'results-compress.md'), `${lines.join('\n')}\n`);
  await writeFile(path.join(dir, 'results-compress.json'), `${JSON.stringify({ file: path.basename(file), raw, rounds, rows, runs: Object.fromEntries(runs) }, null, 2)}\n`);
}

// Run as a script (npx tsx, or the runtime with --one); bench/measure/crash.ts imports the variant names.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
