// 4. Idle cost and start-up latency.
//   idle:     the watchdog beside an app that only sleeps, over idleSeconds split in three
//             windows: RSS at the end of each window and CPU in each (from /proc: the
//             scheduler's exact runtime, and the tick-sampled utime+stime beside it).
//             Reference: a bare Node.js (same runtime, same flags) idling in the same windows,
//             the floor for any watchdog written in Node.js.
//   start-up: from launching the instance to the app's first output line, staged with this
//             buildpack vs the same droplet layout without it, alternating.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LAYOUT, NODE_FLAGS } from '../../src/launch/profile-script.ts';
import { START_CLOSE_MS } from '../../src/watchdog/memory-watch.ts';
import { launch, type Droplet } from '../../test/support/cf.ts';
import type { Bench } from '../lib/context.ts';
import { cpuNanos, cpuTicks, killTree, mainThreadSleeps, memoryOf, sleep, spawnWatched, within } from '../lib/proc.ts';
import { row, type Row } from '../lib/results.ts';
import { formatBytes, MiB, median } from '../lib/stats.ts';

export const IDLE_APP = 'echo "idle app: started"; exec sleep 100000';
export const FIRST_LINE = /idle app: started/;

/** The bare stand-in for the watchdog: spawn what follows `--`, pass SIGTERM on, exit with it. */
const BARE_WATCHDOG = `import { spawn } from 'node:child_process';
const command = process.argv.slice(process.argv.indexOf('--') + 1);
const child = spawn(command[0], command.slice(1), { stdio: 'inherit' });
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
`;

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
  const cpuMs: number[] = [];
  const bareCpuMs: number[] = [];
  const wakes: number[] = [];
  try {
    await app.waitFor(FIRST_LINE, 30_000);
    await bare.waitFor(/bare node: started/, 30_000);
    const cmdline = await readFile(`/proc/${app.pid}/cmdline`, 'utf8');
    if (!cmdline.includes('watchdog.mjs')) throw new Error(`the top process is not the watchdog: ${cmdline.replace(/\0/g, ' ')}`);
    // Start-up work (inotify watches, config) is over, and so is the memory watch's start-up
    // period (every check close while the app starts): what follows is the steady idle cost.
    await sleep(START_CLOSE_MS + 2000);
    const windowMs = (b.sizes.idleSeconds * 1000) / 3;
    // CPU read twice: the scheduler's exact runtime of all threads (judged) and utime+stime
    // ticks (sampled by the tick, shown for comparison with earlier runs).
    const cpu = () => Promise.all([cpuNanos(app.pid), cpuNanos(bare.pid), cpuTicks(app.pid), cpuTicks(bare.pid), mainThreadSleeps(app.pid)]);
    let before = await cpu();
    for (let w = 0; w < 3; w++) {
      await sleep(windowMs);
      const after = await cpu();
      cpuMs.push((after[0] - before[0]) / 1e6);
      bareCpuMs.push((after[1] - before[1]) / 1e6);
      ticks.push(after[2] - before[2]);
      bareTicks.push(after[3] - before[3]);
      wakes.push(after[4] - before[4]);
      before = after;
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
  b.log(`  idle watchdog: RSS ${rss.map(formatBytes).join(', ')} (anonymous ${anon.map(formatBytes).join(', ')}; bare Node.js ${bareAnon.map(formatBytes).join(', ')}); CPU per window ${cpuMs.map((v) => v.toFixed(1)).join(', ')} ms = ${ticks.join(', ')} ticks, ${wakes.join(', ')} wake-ups of its main thread (bare node ${bareCpuMs.map((v) => v.toFixed(1)).join(', ')} ms = ${bareTicks.join(', ')} ticks)`);

  // Start-up latency, alternating with and without the buildpack, and with a bare Node.js in the
  // watchdog's place: the same profile.d steps, runtime and flags, a script that only spawns the
  // command. What any watchdog written for Node.js adds on this machine, the row's floor.
  const plain = await b.plainDroplet(appDir);
  const bareWatchdog = await b.stage({ appDir, env: b.storeEnv('idle') });
  await writeFile(path.join(bareWatchdog.depsDir, bareWatchdog.depsIdx, LAYOUT.watchdog), BARE_WATCHDOG);
  const withUs: number[] = [];
  const without: number[] = [];
  const bareNode: number[] = [];
  const once = async (d: Droplet, into: number[], env: Record<string, string>) => {
    const started = Date.now();
    const instance = launch(d, { command: IDLE_APP, env });
    await instance.waitFor(FIRST_LINE, 30_000);
    into.push(instance.timeOf(FIRST_LINE)! - started);
    await stopInstance(instance);
  };
  const arms = [() => once(droplet, withUs, b.storeEnv('idle')), () => once(plain, without, {}), () => once(bareWatchdog, bareNode, b.storeEnv('idle'))];
  for (let i = 0; i < b.sizes.startupRuns; i++) {
    for (let k = 0; k < arms.length; k++) await arms[(i + k) % arms.length]!();
  }
  b.log(`  start-up to first line: with the buildpack ${withUs.join(', ')} ms; without ${without.join(', ')} ms; a bare Node.js in the watchdog's place ${bareNode.join(', ')} ms`);
  const g = `4. idle cost of the watchdog (${b.sizes.idleSeconds} s beside a sleeping app) and start-up`;
  const windowS = Math.round(b.sizes.idleSeconds / 3);
  const added = median(withUs) - median(without);
  const bareAdded = median(bareNode) - median(without);
  return [
    row({ id: 'idle.anon', group: g, measurement: 'watchdog anonymous RSS while idle (RssAnon: its own memory, no shared text pages)', unit: 'bytes', ours: median(anon), reference: median(bareAnon), referenceLabel: 'bare Node.js, same runtime and flags', target: { on: 'ours', op: '<=', value: median(bareAnon) + 5 * MiB }, runs: { ours: anon, reference: bareAnon }, note: 'target: the bare runtime + 5 MiB' }),
    row({ id: 'idle.rss', group: g, measurement: 'watchdog RSS while idle', unit: 'bytes', ours: median(rss), reference: median(bareRss), referenceLabel: 'bare Node.js, same runtime and flags', target: { on: 'ours', op: '<=', value: 45 * MiB }, runs: { ours: rss, reference: bareRss } }),
    row({ id: 'idle.cpu', group: g, measurement: `watchdog CPU per ${windowS} s window while idle (scheduler runtime of all its threads)`, unit: 'cpu-ms', ours: median(cpuMs), reference: median(bareCpuMs), referenceLabel: 'bare Node.js', target: { on: 'ours', op: '<=', value: 10 }, runs: { ours: cpuMs, reference: bareCpuMs }, note: `target: at most 1 tick (10 ms of CPU) per window; in utime+stime ticks ${ticks.join(', ')} (bare Node.js ${bareTicks.join(', ')}); main-thread wake-ups per window ${wakes.join(', ')} (the bare Node.js never wakes; one wake-up of an idle Node.js costs ~10-25 ms of CPU on this machine, row 9)` }),
    row({ id: 'startup.latency', group: g, measurement: 'launch -> first app output line', unit: 'ms', ours: median(withUs), reference: median(without), referenceLabel: 'same droplet layout without the buildpack', runs: { ours: withUs, reference: without } }),
    row({ id: 'startup.added', group: g, measurement: 'start-up latency added by the buildpack', unit: 'ms', ours: added, target: { on: 'ours', op: '<=', value: 50 }, note: 'median with minus median without' }),
    row({ id: 'startup.bare-node', group: g, measurement: 'limit of the row above: the same launch with a bare Node.js in the watchdog\'s place (same profile.d steps, runtime and flags; it only spawns the command), minus the launch without the buildpack', unit: 'ms', ours: bareAdded, reference: added, referenceLabel: 'ours, the row above', runs: { ours: bareNode, reference: withUs }, note: `what any watchdog written for Node.js adds on this machine before its own code runs; ours adds ${(added - bareAdded).toFixed(0)} ms on top` }),
  ];
}
