// 8. The CPU cost of watching memory: two instances of the same idle JVM app, each in its own
//    memory cgroup, side by side over the same window: one in a 1 GiB limit (like a container)
//    with the default memory watch (one tick every 10 s: the cgroup's usage for the OOM-kill
//    account and the pressure threshold, the JVM's GC counters for the spiral), one in a cgroup
//    without a limit and with pressure and GC spiral off, where the watchdog has nothing to
//    watch and starts no tick. The difference in CPU ticks per minute is what watching costs.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BUILDPACK_DIR, launch } from '../../test/support/cf.ts';
import type { Bench } from '../lib/context.ts';
import { oursEnv } from '../lib/ours-env.ts';
import { cpuTicks, killTree, sleep, within } from '../lib/proc.ts';
import { row, type Row } from '../lib/results.ts';

const CGROUP_ROOT = '/sys/fs/cgroup/memory';
const LIMIT = 1024 ** 3;

async function withCgroup<T>(limit: number | undefined, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = path.join(CGROUP_ROOT, `postmortem-bench-${randomBytes(4).toString('hex')}`);
  await mkdir(dir).catch((error: unknown) => { throw new Error(`cannot create a memory cgroup under ${CGROUP_ROOT} (needs root and cgroup v1): ${String(error)}`); });
  try {
    if (limit !== undefined) await writeFile(path.join(dir, 'memory.limit_in_bytes'), String(limit));
    return await fn(dir);
  } finally {
    for (let i = 0; i < 50; i++) {
      for (const pid of (await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean)) {
        try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
      }
      if (await rmdir(dir).then(() => true, () => false)) break;
      await sleep(100);
    }
  }
}

export async function measureMemoryWatch(b: Bench): Promise<Row[]> {
  const appDir = await b.compileJava(path.join(BUILDPACK_DIR, 'test/fixtures/java'), ['MemoryHog']);
  const droplet = await b.stage({ appDir, env: b.storeEnv('memory-watch') });
  const seconds = Math.max(120, b.sizes.idleSeconds * 3);
  const command = 'java -Xmx64m -cp . MemoryHog 8';
  const off = { POSTMORTEM_MEMORY_PRESSURE: 'off', POSTMORTEM_GC_SPIRAL: 'off' };
  const [on, without] = await withCgroup(LIMIT, (dirOn) => withCgroup(undefined, async (dirOff) => {
    const watched = launch(droplet, { command, env: { ...b.storeEnv('memory-watch'), ...oursEnv() } });
    const plain = launch(droplet, { command, env: { ...b.storeEnv('memory-watch'), ...off } });
    try {
      await writeFile(path.join(dirOn, 'cgroup.procs'), String(watched.pid));
      await writeFile(path.join(dirOff, 'cgroup.procs'), String(plain.pid));
      await watched.waitFor(/memory hog: holding/, 60_000);
      await plain.waitFor(/memory hog: holding/, 60_000);
      const line = await watched.waitFor(/\[postmortem\] watching memory/, 10_000);
      b.log(`  ${line}`);
      await sleep(30_000); // the first checks (JVM lookup, perf data found, V8 compiling the hot path) are start-up, not the steady cost
      const t0 = [await cpuTicks(watched.pid), await cpuTicks(plain.pid)];
      await sleep(seconds * 1000);
      const t1 = [await cpuTicks(watched.pid), await cpuTicks(plain.pid)];
      return [t1[0]! - t0[0]!, t1[1]! - t0[1]!];
    } finally {
      for (const app of [watched, plain]) {
        try { process.kill(app.pid, 'SIGTERM'); } catch { /* gone */ }
        await within(app.process, 15_000, 'the instance stopping').catch(() => killTree(app.pid));
      }
    }
  }));
  const perMinute = (ticks: number) => (ticks * 60) / seconds;
  b.log(`  watchdog CPU over ${seconds} s beside an idle JVM: ${on} ticks watching memory, ${without} ticks with the watch off`);
  return [
    row({
      id: 'memory-watch.cpu', group: `9. watching memory (idle JVM in a 1 GiB memory cgroup, ${seconds} s)`,
      measurement: 'watchdog CPU per minute, memory watch on (default: check every 10 s) vs off (1 tick = 10 ms)', unit: 'ticks',
      ours: perMinute(on), reference: perMinute(without), referenceLabel: 'same watchdog, nothing to watch: no limit, POSTMORTEM_MEMORY_PRESSURE=off, POSTMORTEM_GC_SPIRAL=off',
      target: { on: 'ours', op: '<=', value: perMinute(without) + 1 }, runs: { ours: [perMinute(on)], reference: [perMinute(without)] },
      note: 'target: at most 1 tick per minute more than without the watch',
    }),
  ];
}
