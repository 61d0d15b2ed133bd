// 6. Staging: bin/supply as the builder runs it, with the runtime cached in the buildpack
// (dependencies/, the cached zip's layout), against the least any supply buildpack carrying
// a Node.js runtime must do (unpack node from the same tarball, copy lib/), alternating.
// And the droplet's added bytes: deps/<idx> as the droplet's tar.gz would carry it.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { BUILDPACK_DIR } from '../../test/support/cf.ts';
import type { Bench } from '../lib/context.ts';
import { row, type Row } from '../lib/results.ts';
import { formatSeconds, median } from '../lib/stats.ts';

async function stagingDirs(b: Bench): Promise<{ work: string; build: string; cache: string; deps: string }> {
  const work = await mkdtemp(path.join(b.tmp, 'staging-'));
  const dirs = { work, build: path.join(work, 'app'), cache: path.join(work, 'cache'), deps: path.join(work, 'deps') };
  for (const d of [dirs.build, dirs.cache, path.join(dirs.deps, '0')]) await mkdir(d, { recursive: true });
  return dirs;
}

export async function measureStaging(b: Bench): Promise<Row[]> {
  const manifest = await readFile(path.join(BUILDPACK_DIR, 'manifest.yml'), 'utf8');
  const tgzName = /^\s+file:\s*(\S+)/m.exec(manifest)?.[1];
  if (!tgzName) throw new Error('manifest.yml names no runtime file');
  const tgz = path.join(BUILDPACK_DIR, 'dependencies', tgzName);
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/tmp', CF_STACK: 'cflinuxfs4', ...b.storeEnv('staging') };
  const ours: number[] = [];
  const floor: number[] = [];
  let addedBytes = 0;

  const supply = async (keep: boolean) => {
    const d = await stagingDirs(b);
    const started = performance.now();
    const r = await execa(path.join(BUILDPACK_DIR, 'bin/supply'), [d.build, d.cache, d.deps, '0'], { env, extendEnv: false, all: true, reject: false, stdin: 'ignore', timeout: 60_000 });
    ours.push(performance.now() - started);
    if (r.exitCode !== 0 || /\*\*WARNING\*\*|\*\*ERROR\*\*/.test(r.all ?? '')) throw new Error(`bin/supply: exit ${r.exitCode}\n${r.all}`);
    if (!/cached dependency/.test(r.all ?? '')) throw new Error(`bin/supply did not use the cached runtime:\n${r.all}`);
    if (keep) {
      // What the droplet carries for us: deps/0 and the copy of the profile.d script in the app.
      const tar = await execa('bash', ['-c', 'set -o pipefail; tar -czf - -C "$1" deps/0 app/.profile.d | wc -c', 'size', d.work]);
      addedBytes = Number(tar.stdout.trim());
    }
    await rm(d.work, { recursive: true, force: true });
  };
  const minimal = async () => {
    const d = await stagingDirs(b);
    const started = performance.now();
    await execa('bash', ['-c', 'mkdir -p "$1/0/node/bin" && tar -xzf "$2" -C "$1/0/node" --strip-components=1 package/bin/node && cp -r "$3" "$1/0/postmortem"', 'floor', d.deps, tgz, path.join(BUILDPACK_DIR, 'lib')]);
    floor.push(performance.now() - started);
    await rm(d.work, { recursive: true, force: true });
  };
  for (let i = 0; i < b.sizes.stagingRuns; i++) {
    if (i % 2 === 0) { await supply(i === 0); await minimal(); } else { await minimal(); await supply(false); }
  }
  b.log(`  bin/supply: ${ours.map(formatSeconds).join(', ')}; unpack + copy: ${floor.map(formatSeconds).join(', ')}; droplet adds ${(addedBytes / 1e6).toFixed(1)} MB compressed`);
  const g = '6. staging (bin/supply, runtime cached in the buildpack)';
  return [
    row({ id: 'staging.time', group: g, measurement: 'bin/supply wall time', unit: 'ms', ours: median(ours), reference: median(floor), referenceLabel: 'tar -xzf of the same runtime + cp lib/', target: { on: 'ours', op: '<=', value: 1000 }, runs: { ours, reference: floor } }),
    row({ id: 'staging.droplet', group: g, measurement: 'bytes added to the droplet (tar.gz of deps/<idx> and .profile.d)', unit: 'bytes', ours: addedBytes, target: { on: 'ours', op: '<=', value: 50e6 }, note: 'the target is 50 MB (decimal); the Node.js binary is most of it' }),
  ];
}
