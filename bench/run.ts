// `npm run bench`: measures the buildpack against reference tools run in the same invocation
// (alternating, medians of at least three runs) and writes bench/results.md and
// bench/results.json (BENCH_QUICK=1: smaller sizes and shorter windows, written to
// bench/results-quick.*). Starts and stops its own Ceph RGW on loopback; everything it writes
// goes to one temp folder that is removed at the end, also on failure or Ctrl-C.
//
//   BENCH_QUICK=1            the smoke variant (a few minutes)
//   BENCH_ONLY=crash,upload  run only some measurements (upload, link, histogram need crash first,
//                            or BENCH_HEAP_DUMP=<a plain .hprof of the demo app>)
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { build } from 'esbuild';
import { execa } from 'execa';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILDPACK_DIR } from '../test/support/cf.ts';
import { startRgw, type Rgw } from '../test/support/rgw.ts';
import { extractRuntime } from '../test/support/runtime.ts';
import { createBench, removeAll, tempRoot, type Bench, type Measurement } from './lib/context.ts';
import { describeMachine } from './lib/machine.ts';
import { descendantsOf, killTrackedChildren } from './lib/proc.ts';
import { writeResults, type Results, type Row } from './lib/results.ts';
import { toolEnv } from './lib/tools.ts';
import { measureCores } from './measure/cores.ts';
import { measureCrash } from './measure/crash.ts';
import { measureIdle } from './measure/idle.ts';
import { measureHistogram } from './measure/histogram.ts';
import { measureLogs } from './measure/logs.ts';
import { measureMemoryWatch } from './measure/memory-watch.ts';
import { measureRuntimes } from './measure/runtimes.ts';
import { measureStaging } from './measure/staging.ts';
import { measureConstrainedLink, measureUploadAlone } from './measure/upload.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
// The bench's own SDK client runs on whatever Node.js runs tsx; the notice is not actionable here.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const quick = /^(1|true|yes)$/i.test(process.env['BENCH_QUICK'] ?? '');
const only = process.env['BENCH_ONLY']?.split(',').map((s) => s.trim()).filter(Boolean);

const MEASUREMENTS: [string, string, Measurement][] = [
  ['staging', '6. staging', measureStaging],
  ['idle', '4. idle cost and start-up', measureIdle],
  ['logs', '5. log pass-through', measureLogs],
  ['crash', '1. crash to evidence in the store', measureCrash],
  ['upload', '2. upload alone', measureUploadAlone],
  ['link', '3. constrained link', measureConstrainedLink],
  ['cores', '7. cores', measureCores],
  ['runtimes', '8. Node.js lines', measureRuntimes],
  ['memory-watch', '9. watching memory', measureMemoryWatch],
  ['histogram', '10. heap histogram', measureHistogram],
];
/** The order of the table: the numbering. */
const TABLE_ORDER = ['crash', 'upload', 'link', 'idle', 'logs', 'staging', 'cores', 'runtimes', 'memory-watch', 'histogram'];

const started = Date.now();
const log = (message: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);

let tmp: string | undefined;
let rgw: Rgw | undefined;
let bench: Bench | undefined;
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    killTrackedChildren();
    bench?.bucket.close();
    await rgw?.stop().catch((error: unknown) => log(`stopping RGW: ${String(error)}`));
    // Instances launched through the CF harness (watchdog, app) and anything they started.
    for (const pid of await descendantsOf(process.pid)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await removeAll([...(bench?.cleanup ?? []), ...(tmp ? [tmp] : [])]);
  })());
}

// Ctrl-C reaches this process twice (from the terminal and relayed by tsx): keep handling it,
// or the second one would end the process in the middle of cleaning up.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (cleaning) return;
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => { log('cleaned up'); process.exit(130); });
  });
}

/** The newest mtime below a folder (the bench runs the committed lib/, built from src/). */
async function newest(dir: string): Promise<number> {
  let latest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, (await stat(path.join(entry.parentPath, entry.name))).mtimeMs);
  }
  return latest;
}

async function prepareRuntime(dir: string): Promise<string> {
  // The pinned runtime (manifest.yml), from the download cache scripts/fetch-runtime.mjs fills.
  return extractRuntime(dir);
}

async function bundleClient(dir: string): Promise<string> {
  const outfile = path.join(dir, 'upload.mjs');
  await build({
    // the heap histogram's parser thread beside it, as lib/ has it beside the watchdog
    entryPoints: { upload: path.join(HERE, 'clients/upload.ts'), 'hprof-worker': path.join(HERE, '../src/entry/hprof-worker.ts') },
    outdir: dir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    minify: true,
    logLevel: 'warning',
    banner: { js: "import{createRequire as __benchRequire}from'node:module';const require=__benchRequire(import.meta.url);" },
  });
  return outfile;
}

async function main(): Promise<number> {
  if ((await newest(path.join(BUILDPACK_DIR, 'src'))) > (await stat(path.join(BUILDPACK_DIR, 'lib/watchdog.mjs'))).mtimeMs) {
    log('WARNING: src/ is newer than lib/: the staged watchdog is the committed bundle; run `npm run build` to measure your changes');
  }
  tmp = await tempRoot();
  // Everything that makes its own temp folder (stage(), compileJava(), the tools) makes it in
  // ours, so removing ours removes it, even when it was being created when we were stopped.
  process.env['TMPDIR'] = tmp;
  log(`${quick ? 'BENCH_QUICK: smaller sizes' : 'full run'}; temp folder ${tmp}`);
  const [node, ourClient] = await Promise.all([prepareRuntime(tmp), bundleClient(tmp)]);
  const machine = await describeMachine(node, toolEnv(tmp));
  log(`machine: ${machine.cores} cores, ${(machine.memoryBytes / 1024 ** 3).toFixed(1)} GiB, ${machine.kernel}, load ${machine.loadAverageStart.map((l) => l.toFixed(2)).join(' ')}`);

  log('starting Ceph RGW on loopback');
  rgw = await startRgw({ parentDir: tmp });
  log(`RGW ready at ${rgw.endpoint}`);
  bench = createBench({ quick, rgw, tmp, node, ourClient, bucket: 'bench', log });
  await bench.bucket.client.send(new CreateBucketCommand({ Bucket: 'bench' }));
  // A heap dump from an earlier run, for measurements that need one without running 1 again.
  if (process.env['BENCH_HEAP_DUMP']) bench.shared.heapDump = process.env['BENCH_HEAP_DUMP'];

  const rows = new Map<string, Row[]>();
  const failures: Results['failures'] = [];
  for (const [id, title, measure] of MEASUREMENTS) {
    if (only && !only.includes(id)) continue;
    const at = Date.now();
    log(`${title}`);
    try {
      rows.set(id, await measure(bench));
      log(`${title}: done in ${((Date.now() - at) / 1000).toFixed(0)} s`);
    } catch (error) {
      const message = error instanceof Error ? error.stack ?? error.message : String(error);
      log(`${title} FAILED: ${message}`);
      failures.push({ measurement: title, error: message });
    }
  }
  machine.loadAverageEnd = os.loadavg();
  const results: Results = {
    suite: 'postmortem-buildpack bench',
    quick,
    startedAt: new Date(started).toISOString(),
    durationS: (Date.now() - started) / 1000,
    machine,
    rows: TABLE_ORDER.flatMap((id) => rows.get(id) ?? []),
    failures,
    notes: NOTES,
  };
  // A partial run (BENCH_ONLY) never replaces the full run's table.
  const base = quick ? 'results-quick' : only ? 'results-partial' : 'results';
  await writeResults(results, path.join(HERE, `${base}.md`), path.join(HERE, `${base}.json`));
  log(`wrote bench/${base}.md and bench/${base}.json`);
  process.stdout.write(await readFile(path.join(HERE, `${base}.md`), 'utf8'));
  return failures.length > 0 ? 1 : 0;
}

const NOTES = [
  'Times are wall-clock between output lines as the bench process receives them (the launcher\'s pipes), or from spawning a client to its exit. CPU seconds and peak RSS of upload clients come from the kernel\'s rusage of each client process (GNU time), nothing sampled.',
  'The reference crash path is measured as the JVM\'s own dump time ("Dumping heap to" -> "Heap dump file created") plus the upload tool\'s wall time, started on a fresh dump; rclone and aws take turns going first.',
  'Peak disk is sampled by the bench every 50 ms (allocated blocks of every file under the folder); the product itself never polls.',
  'RGW is a single-node Ceph cluster (bluestore) on the same 2-core machine as the clients: uploads compete with it for CPU.',
];

let status = 1;
try {
  status = await main();
} catch (error) {
  log(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
} finally {
  log('cleaning up (RGW, temp folders)');
  await cleanup();
}
log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exitCode = status;
