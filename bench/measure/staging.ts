// 6. Packaging and staging, with the zips `npm run package` builds (unpacked as the platform
// unpacks a buildpack):
//   zip sizes:  the cached zip against the compressed runtime it carries (the tarball at uri)
//   staging:    bin/supply from the cached zip, and from the uncached zip with the runtime in
//               the staging cache (a second staging), against `tar -xzf` of the same runtime
//               tarball (package/bin/node only), alternating
//   droplet:    bytes we add (tar.gz of deps/<idx> and .profile.d), with our runtime and when
//               an earlier buildpack's Node.js is reused
import { chmod, cp, mkdir, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { BUILDPACK_DIR } from '../../test/support/cf.ts';
import { CACHE_SUBDIR, runtimeTarball } from '../../test/support/runtime.ts';
import type { Bench } from '../lib/context.ts';
import { runMeasured } from '../lib/proc.ts';
import { row, type Row } from '../lib/results.ts';
import { formatBytes, formatSeconds, median } from '../lib/stats.ts';

interface Dirs { work: string; build: string; cache: string; deps: string }

async function stagingDirs(b: Bench): Promise<Dirs> {
  const work = await mkdtemp(path.join(b.tmp, 'staging-'));
  const dirs = { work, build: path.join(work, 'app'), cache: path.join(work, 'cache'), deps: path.join(work, 'deps') };
  for (const d of [dirs.build, dirs.cache, path.join(dirs.deps, '1')]) await mkdir(d, { recursive: true });
  return dirs;
}

/** What the droplet carries for us: deps/1 and the profile.d copy in the app, compressed. */
async function addedBytes(d: Dirs): Promise<number> {
  const tar = await execa('bash', ['-c', 'set -o pipefail; tar -czf - -C "$1" deps/1 app/.profile.d | wc -c', 'size', d.work]);
  return Number(tar.stdout.trim());
}

export async function measureStaging(b: Bench): Promise<Row[]> {
  const zips = path.join(b.tmp, 'zips');
  await execa('node', ['scripts/package.mjs', '--out', zips], { cwd: BUILDPACK_DIR });
  const names = (await readdir(zips)).filter((f) => f.endsWith('.zip'));
  const sizes = await Promise.all(names.map(async (f) => ({ file: path.join(zips, f), bytes: (await stat(path.join(zips, f))).size })));
  const cachedZip = sizes.find((s) => s.file.includes('-cached-'));
  const uncachedZip = sizes.find((s) => !s.file.includes('-cached-'));
  if (!cachedZip || !uncachedZip) throw new Error(`npm run package wrote ${names.join(', ')}: not both zips`);
  const tgz = await runtimeTarball();
  const tgzBytes = (await stat(tgz)).size;
  const unpack = async (zip: string) => {
    const dir = await mkdtemp(path.join(b.tmp, 'bp-'));
    await execa('unzip', ['-q', zip, '-d', dir]);
    return dir;
  };
  const cachedBp = await unpack(cachedZip.file);
  const uncachedBp = await unpack(uncachedZip.file);
  b.log(`  cached zip ${formatBytes(cachedZip.bytes)}, uncached ${formatBytes(uncachedZip.bytes)}, runtime tarball ${formatBytes(tgzBytes)}`);

  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/tmp', CF_STACK: 'cflinuxfs4', ...b.storeEnv('staging') };
  // Wall time, and CPU seconds (user + system of the process and its children, from rusage):
  // the machines are shared, and CPU time is what a busy staging host has to give.
  const supply = async (bp: string, d: Dirs, expect: RegExp, cpu?: number[]) => {
    const m = await runMeasured(path.join(bp, 'bin/supply'), [d.build, d.cache, d.deps, '1'], { env, timeoutMs: 60_000 });
    const out = m.stdout + m.stderr;
    if (/\*\*WARNING\*\*|\*\*ERROR\*\*/.test(out) || !expect.test(out)) throw new Error(`bin/supply:\n${out}`);
    cpu?.push(m.cpuSeconds * 1000);
    return m.wallMs;
  };
  const cachedRuns: number[] = [];
  const cachedCpu: number[] = [];
  const cacheRuns: number[] = [];
  const tarRuns: number[] = [];
  const tarCpu: number[] = [];
  let ourDroplet = 0;
  const viaCachedZip = async (keep: boolean) => {
    const d = await stagingDirs(b);
    cachedRuns.push(await supply(cachedBp, d, /carried by the cached buildpack zip/, cachedCpu));
    if (keep) ourDroplet = await addedBytes(d);
    await rm(d.work, { recursive: true, force: true });
  };
  const viaStagingCache = async () => {
    const d = await stagingDirs(b);
    await mkdir(path.join(d.cache, CACHE_SUBDIR));
    await cp(tgz, path.join(d.cache, CACHE_SUBDIR, path.basename(tgz)));
    cacheRuns.push(await supply(uncachedBp, d, /from the staging cache/));
    await rm(d.work, { recursive: true, force: true });
  };
  const tar = async () => {
    const d = await stagingDirs(b);
    const m = await runMeasured('tar', ['-xzf', tgz, '-C', path.join(d.deps, '1'), 'package/bin/node'], { timeoutMs: 60_000 });
    tarRuns.push(m.wallMs);
    tarCpu.push(m.cpuSeconds * 1000);
    await rm(d.work, { recursive: true, force: true });
  };
  for (let i = 0; i < b.sizes.stagingRuns; i++) {
    if (i % 2 === 0) { await viaCachedZip(i === 0); await tar(); await viaStagingCache(); } else { await viaStagingCache(); await tar(); await viaCachedZip(false); }
  }

  // An earlier buildpack (the nodejs buildpack's layout) left a Node.js of a tested line.
  const reuse = await stagingDirs(b);
  await mkdir(path.join(reuse.deps, '0/node/bin'), { recursive: true });
  await mkdir(path.join(reuse.deps, '0/bin'));
  await execa('tar', ['-xzf', tgz, '-C', path.join(reuse.deps, '0/node'), '--strip-components=1', 'package/bin/node']);
  await chmod(path.join(reuse.deps, '0/node/bin/node'), 0o755);
  await symlink('../node/bin/node', path.join(reuse.deps, '0/bin/node'));
  await supply(cachedBp, reuse, /reused from \$DEPS_DIR\/0\/node\/bin\/node/);
  const reusedDroplet = await addedBytes(reuse);
  await rm(reuse.work, { recursive: true, force: true });

  b.log(`  bin/supply (cached zip): ${cachedRuns.map(formatSeconds).join(', ')} (CPU ${cachedCpu.map((c) => c.toFixed(0)).join(', ')} ms); (staging cache): ${cacheRuns.map(formatSeconds).join(', ')}; tar -xzf: ${tarRuns.map(formatSeconds).join(', ')} (CPU ${tarCpu.map((c) => c.toFixed(0)).join(', ')} ms)`);
  b.log(`  droplet adds ${formatBytes(ourDroplet)} compressed with our runtime, ${formatBytes(reusedDroplet)} reusing an earlier buildpack's`);
  const g = '6. packaging and staging (the zips of `npm run package`, unpacked)';
  const tarLabel = 'tar -xzf of the same runtime tarball (bin/node only)';
  return [
    row({ id: 'package.cached', group: g, measurement: 'cached zip size vs the runtime tarball it carries', unit: 'bytes', ours: cachedZip.bytes, reference: tgzBytes, referenceLabel: `${path.basename(tgz)}`, target: { on: 'ratio', op: '<=', value: 1.2 } }),
    row({ id: 'package.uncached', group: g, measurement: 'uncached zip size', unit: 'bytes', ours: uncachedZip.bytes }),
    row({ id: 'staging.time', group: g, measurement: 'bin/supply wall time, cached zip', unit: 'ms', ours: median(cachedRuns), reference: median(tarRuns), referenceLabel: tarLabel, target: { on: 'ours', op: '<=', value: 500 }, runs: { ours: cachedRuns, reference: tarRuns } }),
    row({ id: 'staging.cpu', group: g, measurement: 'bin/supply CPU time (user + system), cached zip', unit: 'ms', ours: median(cachedCpu), reference: median(tarCpu), referenceLabel: tarLabel, runs: { ours: cachedCpu, reference: tarCpu } }),
    row({ id: 'staging.cache', group: g, measurement: 'bin/supply wall time, uncached zip, runtime in the staging cache', unit: 'ms', ours: median(cacheRuns), reference: median(tarRuns), referenceLabel: tarLabel, runs: { ours: cacheRuns, reference: tarRuns } }),
    row({ id: 'staging.droplet', group: g, measurement: 'bytes added to the droplet (tar.gz of deps/<idx> and .profile.d)', unit: 'bytes', ours: ourDroplet, target: { on: 'ours', op: '<=', value: 50e6 }, note: 'the target is 50 MB (decimal); the Node.js binary is most of it' }),
    row({ id: 'staging.reuse', group: g, measurement: 'bytes added to the droplet, reusing an earlier buildpack\'s Node.js', unit: 'bytes', ours: reusedDroplet, target: { on: 'ours', op: '<=', value: 2e6 }, note: 'target 2 MB (decimal)' }),
  ];
}
