// 4. Idle cost and start-up latency.
//   idle:     the watchdog beside an app that only sleeps, over idleSeconds split in three
//             windows: RSS at the end of each window and CPU ticks in each (from /proc).
//             Reference: a bare Node.js (same runtime, same flags) idling in the same windows,
//             the floor for any watchdog written in Node.js.
//   start-up: from launching the instance to the app's first output line, staged with this
//             buildpack vs the same droplet layout without it, alternating.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NODE_FLAGS } from '../../src/launch/profile-script.ts';
import { launch, type Droplet } from '../../test/support/cf.ts';
import type { Bench } from '../lib/context.ts';
import { cpuTicks, killTree, memoryOf, sleep, spawnWatched, within } from '../lib/proc.ts';
import { row, type Row } from '../lib/results.ts';
import { formatBytes, MiB, median } from '../lib/stats.ts';

export const IDLE_APP = 'echo "idle app: started"; exec sleep 100000';
export const FIRST_LINE = /idle app: started/;

export async function idleAppDir(b: Bench): Promise<string> {
  const dir = await mkdtemp(path.join(b.tmp, 'idle-app-'));
  await writeFile(path.join(dir, 'Procfile'), `web: ${IDLE_APP}\n`);
  return dir;
}

export async function stopInstance(app: ReturnType<typeof launch>): Promise<void> {
  try { process.kill(app.pid, 'SIGTERM'); } catch { /* gone */ }
  try {
    await within(app.process, 15_000, 'the instance stopping on SIGTERM');
  } catch (error) {
    await killTree(app.pid);
    throw error;
  }
}

export async function measureIdle(b: Bench): Promise<Row[]> {
  const appDir = await idleAppDir(b);
  const droplet = await b.stage({ appDir, env: b.storeEnv('idle') });
  const app = launch(droplet, { command: IDLE_APP, env: b.storeEnv('idle') });
  const bare = spawnWatched(b.node, [...NODE_FLAGS.split(' '), '-e', 'console.log("bare node: started"); setInterval(() => {}, 1 << 30)'], {});
  const rss: number[] = [];
  const anon: number[] = [];
  const bareAnon: number[] = [];
  const ticks: number[] = [];
  const bareRss: number[] = [];
  const bareTicks: number[] = [];
  try {
    await app.waitFor(FIRST_LINE, 30_000);
    await bare.waitFor(/bare node: started/, 30_000);
    const cmdline = await readFile(`/proc/${app.pid}/cmdline`, 'utf8');
    if (!cmdline.includes('watchdog.mjs')) throw new Error(`the top process is not the watchdog: ${cmdline.replace(/\0/g, ' ')}`);
    await sleep(2000); // start-up work (inotify watches, config) is over
    const windowMs = (b.sizes.idleSeconds * 1000) / 3;
    let t0 = await cpuTicks(app.pid);
    let b0 = await cpuTicks(bare.pid);
    for (let w = 0; w < 3; w++) {
      await sleep(windowMs);
      const t1 = await cpuTicks(app.pid);
      const b1 = await cpuTicks(bare.pid);
      ticks.push(t1 - t0);
      bareTicks.push(b1 - b0);
      t0 = t1;
      b0 = b1;
      const ours = await memoryOf(app.pid);
      const reference = await memoryOf(bare.pid);
      rss.push(ours.rss);
      anon.push(ours.anon);
      bareRss.push(reference.rss);
      bareAnon.push(reference.anon);
    }
  } finally {
    await stopInstance(app).catch(() => undefined);
    bare.child.kill('SIGKILL');
  }
  b.log(`  idle watchdog: RSS ${rss.map(formatBytes).join(', ')} (anonymous ${anon.map(formatBytes).join(', ')}; bare Node.js ${bareAnon.map(formatBytes).join(', ')}); CPU ticks per window ${ticks.join(', ')} (bare node ${bareTicks.join(', ')})`);

  // Start-up latency, alternating with and without the buildpack.
  const plain = await b.plainDroplet(appDir);
  const withUs: number[] = [];
  const without: number[] = [];
  const once = async (d: Droplet, into: number[], env: Record<string, string>) => {
    const started = Date.now();
    const instance = launch(d, { command: IDLE_APP, env });
    await instance.waitFor(FIRST_LINE, 30_000);
    into.push(instance.timeOf(FIRST_LINE)! - started);
    await stopInstance(instance);
  };
  for (let i = 0; i < b.sizes.startupRuns; i++) {
    if (i % 2 === 0) { await once(droplet, withUs, b.storeEnv('idle')); await once(plain, without, {}); }
    else { await once(plain, without, {}); await once(droplet, withUs, b.storeEnv('idle')); }
  }
  b.log(`  start-up to first line: with the buildpack ${withUs.join(', ')} ms; without ${without.join(', ')} ms`);
  const g = `4. idle cost of the watchdog (${b.sizes.idleSeconds} s beside a sleeping app) and start-up`;
  const windowS = Math.round(b.sizes.idleSeconds / 3);
  const added = median(withUs) - median(without);
  return [
    row({ id: 'idle.anon', group: g, measurement: 'watchdog anonymous RSS while idle (RssAnon: its own memory, no shared text pages)', unit: 'bytes', ours: median(anon), reference: median(bareAnon), referenceLabel: 'bare Node.js, same runtime and flags', target: { on: 'ours', op: '<=', value: median(bareAnon) + 5 * MiB }, runs: { ours: anon, reference: bareAnon }, note: 'target: the bare runtime + 5 MiB' }),
    row({ id: 'idle.rss', group: g, measurement: 'watchdog RSS while idle', unit: 'bytes', ours: median(rss), reference: median(bareRss), referenceLabel: 'bare Node.js, same runtime and flags', target: { on: 'ours', op: '<=', value: 45 * MiB }, runs: { ours: rss, reference: bareRss } }),
    row({ id: 'idle.cpu', group: g, measurement: `watchdog CPU per ${windowS} s window while idle (1 tick = 10 ms)`, unit: 'ticks', ours: median(ticks), reference: median(bareTicks), referenceLabel: 'bare Node.js', target: { on: 'ours', op: '<=', value: 1 }, runs: { ours: ticks, reference: bareTicks }, note: `all ${b.sizes.idleSeconds} s: ${ticks.reduce((a, c) => a + c, 0)} ticks (bare Node.js ${bareTicks.reduce((a, c) => a + c, 0)})` }),
    row({ id: 'startup.latency', group: g, measurement: 'launch -> first app output line', unit: 'ms', ours: median(withUs), reference: median(without), referenceLabel: 'same droplet layout without the buildpack', runs: { ours: withUs, reference: without } }),
    row({ id: 'startup.added', group: g, measurement: 'start-up latency added by the buildpack', unit: 'ms', ours: added, target: { on: 'ours', op: '<=', value: 50 }, note: 'median with minus median without' }),
  ];
}
