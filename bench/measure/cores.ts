// 7. Cores. A native process holding coreMiB of resident, realistic data calls abort():
//   ours:      staged with this buildpack (core_pattern "core" lands in the app folder; the
//              watchdog raised the soft core limit); from the app's "abort()" line to our
//              "stored core" line, and the stored size.
//   reference: the same binary run directly with `ulimit -c unlimited`; the kernel writes the
//              core (done when the parent sees the exit), then `rclone copy` (64M x4).
import { copyFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { launch } from '../../test/support/cf.ts';
import type { Bench } from '../lib/context.ts';
import { sampleDiskPeak } from '../lib/disk.ts';
import { killTree, spawnWatched, within } from '../lib/proc.ts';
import { row, type Row } from '../lib/results.ts';
import { formatBytes, formatSeconds, median } from '../lib/stats.ts';

const TIMEOUT_MS = 300_000;

export async function measureCores(b: Bench): Promise<Row[]> {
  const pattern = (await execa('cat', ['/proc/sys/kernel/core_pattern'])).stdout.trim();
  if (pattern.startsWith('|')) throw new Error(`core_pattern pipes cores to a program (${pattern}): no core file to measure`);
  const appDir = await mkdtemp(path.join(b.tmp, 'hog-app-'));
  await execa('cc', ['-O2', '-o', path.join(appDir, 'hog'), path.join(import.meta.dirname, '../fixtures/hog.c')]);
  const droplet = await b.stage({ appDir, env: b.storeEnv('cores') });
  const mib = b.sizes.coreMiB;
  const ours: { ms: number; size: number; stored: number; disk: number }[] = [];
  const refs: { ms: number; writeMs: number; size: number }[] = [];

  const runOurs = async (round: number) => {
    const prefix = `cores/ours-${round}`;
    const disk = sampleDiskPeak([droplet.appDir, path.join(droplet.home, 'tmp')]);
    const app = launch(droplet, { command: `./hog ${mib}`, env: { ...b.storeEnv(prefix), POSTMORTEM_GRACE: '0s' } });
    let peak = 0;
    try {
      await within(app.process, TIMEOUT_MS, 'the staged native app aborting');
    } catch (error) {
      await killTree(app.pid);
      throw error;
    } finally {
      peak = (await disk.stop()).peakBytes;
    }
    const out = app.output();
    const abortAt = app.timeOf(/hog: abort\(\)/);
    const storedAt = app.timeOf(/\[postmortem\] stored core/);
    const reportKey = /crash report -> s3:\/\/[^/]+\/(\S+)/.exec(out)?.[1];
    if (abortAt === undefined || storedAt === undefined || !reportKey) throw new Error(`ours, round ${round}: expected lines missing; output:\n${out.slice(-4000)}`);
    const report = JSON.parse(await b.bucket.text(reportKey)) as { artifacts: { name: string; key: string; size: number; storedSize: number; verified: boolean }[] };
    const core = report.artifacts.find((a) => a.name.startsWith('core'));
    if (!core?.verified) throw new Error(`ours, round ${round}: no verified core in ${reportKey}`);
    if ((await b.bucket.size(core.key)) !== core.storedSize) throw new Error(`ours, round ${round}: stored size of ${core.key} differs from the report`);
    ours.push({ ms: storedAt - abortAt, size: core.size, stored: core.storedSize, disk: peak });
    b.log(`  ours #${round + 1}: abort -> core stored ${formatSeconds(storedAt - abortAt)}, ${formatBytes(core.size)} as ${formatBytes(core.storedSize)}, disk peak ${formatBytes(peak)}`);
    await b.purge(prefix);
  };

  const runReference = async (round: number) => {
    const dir = await mkdtemp(path.join(b.tmp, 'hog-ref-'));
    await copyFile(path.join(appDir, 'hog'), path.join(dir, 'hog'));
    await execa('chmod', ['+x', path.join(dir, 'hog')]);
    const proc = spawnWatched('bash', ['-c', `ulimit -S -c unlimited; exec ./hog ${mib}`], { cwd: dir });
    try {
      const abortAt = await proc.waitFor(/hog: abort\(\)/, TIMEOUT_MS);
      const ended = await within(proc.exited, TIMEOUT_MS, 'the reference native app aborting');
      const name = (await readdir(dir)).find((n) => /^core(\.\d+)?$/.test(n));
      if (!name) throw new Error(`reference: no core file in ${dir} (core_pattern ${pattern})`);
      const file = path.join(dir, name);
      const size = (await stat(file)).size;
      const prefix = `cores/ref-${round}`;
      const up = await b.uploaders.rclone(file, prefix);
      if ((await b.bucket.size(`${prefix}/${name}`)) !== size) throw new Error(`reference, round ${round}: stored core size differs`);
      const writeMs = ended.at - abortAt;
      refs.push({ ms: writeMs + up.wallMs, writeMs, size });
      b.log(`  reference #${round + 1}: kernel wrote ${formatBytes(size)} in ${formatSeconds(writeMs)}, rclone ${formatSeconds(up.wallMs)}`);
      await b.purge(prefix);
    } catch (error) {
      await killTree(proc.pid);
      throw error;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  for (let round = 0; round < b.sizes.rounds; round++) {
    if (round % 2 === 0) { await runOurs(round); await runReference(round); } else { await runReference(round); await runOurs(round); }
  }
  const g = `7. cores (native process, ${formatBytes(mib * 1024 * 1024)} resident, abort())`;
  const share = ours.map((r) => r.stored / r.size);
  return [
    row({ id: 'cores.time', group: g, measurement: 'abort() -> core stored and verified', unit: 'ms', ours: median(ours.map((r) => r.ms)), reference: median(refs.map((r) => r.ms)), referenceLabel: 'kernel writes core, then rclone copy 64M x4', runs: { ours: ours.map((r) => r.ms), reference: refs.map((r) => r.ms) } }),
    row({ id: 'cores.stored', group: g, measurement: `core bytes stored / core size (${formatBytes(median(ours.map((r) => r.size)))} core)`, unit: 'x', ours: median(share), reference: 1, referenceLabel: 'rclone stores it as is', runs: { ours: share } }),
    row({ id: 'cores.disk', group: g, measurement: 'peak disk used in the container (app folder + tmp)', unit: 'bytes', ours: median(ours.map((r) => r.disk)), reference: median(refs.map((r) => r.size)), referenceLabel: 'the core file', runs: { ours: ours.map((r) => r.disk), reference: refs.map((r) => r.size) } }),
  ];
}
