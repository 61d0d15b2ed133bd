// The one memory tick against a real memory cgroup (cgroup v1 here, as under Garden): a child
// process joins a fresh cgroup with a limit and the watch is pointed at that child's cgroup.
// Each tick reads the cgroup's usage and nothing else while usage is far from the limit; once
// usage nears the limit the app's process RSS is read too, so after a SIGKILL the account
// names the process that held the memory. Far from the limit the checks come RELAXED_FACTOR
// times less often; near it, rising towards it, or when a listener asks, at the close cadence.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { joinCgroups, needCgroup, testCgroup } from '../support/cgroup.ts';
import { RUN_MARKER, RUN_MARKER_VALUE } from '../support/cleanup.ts';
import { memoryEventLog } from '../../src/util/event-log.ts';
import { nearOrRising, RELAXED_FACTOR, RSS_NEAR_PERCENT, watchContainerMemory, type MemoryTick } from '../../src/watchdog/memory-watch.ts';

const MiB = 1024 * 1024;
const LIMIT = 256 * MiB;

/** A node process in the cgroup that touches `holdMiB` MiB, says so, and waits. */
function holder(procs: string, holdMiB: number): { child: ChildProcess; ready: Promise<void> } {
  const script = `const b = Buffer.alloc(${holdMiB} * 1048576, 1); console.log('holding', b.length); setInterval(() => {}, 1 << 30);`;
  const child = spawn('bash', ['-c', `${joinCgroups([procs])}exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(script)}`], {
    env: { ...process.env, [RUN_MARKER]: RUN_MARKER_VALUE }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => { if (c.toString().includes('holding')) resolve(); });
    child.once('exit', (code) => reject(new Error(`the holder ended early (${code})`)));
  });
  return { child, ready };
}

/** Resolves with the first `count` ticks; the deadline is tap's. */
function ticks(watch: { onTick(fn: (tick: MemoryTick) => void): void }, count: number): Promise<MemoryTick[]> {
  const seen: MemoryTick[] = [];
  return new Promise((resolve) => watch.onTick((tick) => { seen.push(tick); if (seen.length === count) resolve(seen); }));
}

async function killed(child: ChildProcess): Promise<void> {
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
}

for (const [name, holdMiB, near] of [['far from the limit', 8, false], ['near the limit', 220, true]] as const) {
  t.test(`one tick, ${name}: usage from the cgroup${near ? ', and the process RSS' : ', no process RSS'}`, async (t) => {
    if (!(await needCgroup(t, 'memory'))) return;
    const cgroup = await testCgroup(t, 'memory', { 'memory.limit_in_bytes': String(LIMIT) });
    const { child, ready } = holder(cgroup.procs, holdMiB);
    t.teardown(() => { child.kill('SIGKILL'); });
    await ready;
    const log = memoryEventLog();
    const watch = await watchContainerMemory(log, { everyMs: 50, pressurePercent: 90, self: `/proc/${child.pid}`, startCloseMs: 0 });
    t.equal(watch.cgroup?.dir, cgroup.dir, 'the child\'s cgroup');
    t.equal(watch.limit, LIMIT, 'its limit');
    const first = ticks(watch, 3);
    watch.follow(child.pid!);
    const seen = await first;
    const usage = Number((await cgroup.read('memory.usage_in_bytes')).trim());
    for (const tick of seen) {
      t.equal(tick.limit, LIMIT);
      t.ok(tick.usage !== undefined && tick.usage > holdMiB * MiB && tick.usage <= LIMIT, `usage ${tick.usage} holds the child's ${holdMiB} MiB, within the limit`);
    }
    t.equal((seen[2]!.usage! * 100) / LIMIT >= RSS_NEAR_PERCENT, near, `usage is ${near ? 'at least' : 'below'} ${RSS_NEAR_PERCENT}% of the limit (cgroup says ${usage})`);
    // The first check always comes at the close cadence; after it (and the start-up period,
    // shortened to nothing here) the cadence follows usage.
    t.same(watch.checks, near ? { close: 3, relaxed: 0 } : { close: 1, relaxed: 2 }, `checks by cadence ${near ? 'near the limit: all close' : `far from it: relaxed after the first (${RELAXED_FACTOR} times less often)`}`);
    await killed(child);
    const facts = await watch.afterDeath('SIGKILL');
    const listed = facts?.processes.find((p) => p.pid === child.pid);
    if (near) t.ok(listed && listed.rssBytes > (holdMiB - 10) * MiB, `the holder's last known RSS (${JSON.stringify(facts?.processes)})`);
    else t.notOk(listed, `far from the limit no process RSS was read (${JSON.stringify(facts?.processes)})`);
    t.ok(facts?.processes.some((p) => p.command === 'postmortem watchdog' && p.pid === process.pid), 'after the death the watcher\'s own RSS is read');
  });
}

t.test('no limit: the tick runs only for a listener, and reads nothing', async (t) => {
  if (!(await needCgroup(t, 'memory'))) return;
  const cgroup = await testCgroup(t, 'memory', {});
  const { child, ready } = holder(cgroup.procs, 1);
  t.teardown(() => { child.kill('SIGKILL'); });
  await ready;
  const log = memoryEventLog();
  const watch = await watchContainerMemory(log, { everyMs: 10, self: `/proc/${child.pid}` });
  t.equal(watch.limit, undefined);
  t.match(log.lines.join('\n'), /no limit/);
  watch.follow(child.pid!);
  // A listener registered later starts it: the GC spiral watch needs ticks without a limit.
  const [tick] = await ticks(watch, 1);
  t.same(tick, { usage: undefined, limit: undefined }, 'a tick without a limit reads nothing');
  watch.stop();
});

t.test('the cadence: near the limit, or rising fast enough to get there before two relaxed checks', async (t) => {
  const near = 192 * MiB;
  const relaxedMs = 60_000;
  const at = 1_000_000;
  t.equal(nearOrRising({ usage: 200 * MiB, at, previous: undefined, near, relaxedMs }), true, 'over the near level');
  t.equal(nearOrRising({ usage: 100 * MiB, at, previous: undefined, near, relaxedMs }), false, 'far below, nothing to compare with');
  t.equal(nearOrRising({ usage: 100 * MiB, at, previous: { usage: 100 * MiB, at: at - 60_000 }, near, relaxedMs }), false, 'flat');
  t.equal(nearOrRising({ usage: 100 * MiB, at, previous: { usage: 120 * MiB, at: at - 60_000 }, near, relaxedMs }), false, 'falling');
  // +40 MiB a minute: 100 + 2 x 40 = 180 < 192 -> relaxed; +50 MiB: 200 >= 192 -> close.
  t.equal(nearOrRising({ usage: 100 * MiB, at, previous: { usage: 60 * MiB, at: at - 60_000 }, near, relaxedMs }), false, 'rising, but not there within two relaxed checks');
  t.equal(nearOrRising({ usage: 100 * MiB, at, previous: { usage: 50 * MiB, at: at - 60_000 }, near, relaxedMs }), true, 'rising fast enough to get there within two relaxed checks');
  t.equal(nearOrRising({ usage: 100 * MiB, at, previous: { usage: 99 * MiB, at: at - 1_000 }, near, relaxedMs }), true, 'a steep climb over a short close interval counts too');
  t.equal(nearOrRising({ usage: undefined, at, previous: undefined, near, relaxedMs }), false, 'no usage (no limit): only listeners decide');
});

t.test('a listener asking for the close cadence brings a pending relaxed check forward, and lets go', async (t) => {
  if (!(await needCgroup(t, 'memory'))) return;
  const cgroup = await testCgroup(t, 'memory', { 'memory.limit_in_bytes': String(LIMIT) });
  const { child, ready } = holder(cgroup.procs, 8);
  t.teardown(() => { child.kill('SIGKILL'); });
  await ready;
  const watch = await watchContainerMemory(memoryEventLog(), { everyMs: 500, pressurePercent: 90, self: `/proc/${child.pid}`, startCloseMs: 0 });
  const counts: { close: number; relaxed: number }[] = [];
  const done = new Promise<void>((resolve) => watch.onTick(() => {
    counts.push({ ...watch.checks });
    if (counts.length === 1) setImmediate(() => watch.watchClosely('test', true)); // after the first check scheduled a relaxed one
    if (counts.length === 2) watch.watchClosely('test', false); // decided before this check's cadence: the next is relaxed again
    if (counts.length === 3) resolve();
  }));
  watch.follow(child.pid!);
  await done;
  watch.stop();
  t.same(counts, [{ close: 1, relaxed: 0 }, { close: 2, relaxed: 0 }, { close: 2, relaxed: 1 }], 'first close; the pending relaxed check brought forward to close; relaxed again once let go');
});

t.test('while the app starts, every check is close, however flat usage is', async (t) => {
  if (!(await needCgroup(t, 'memory'))) return;
  const cgroup = await testCgroup(t, 'memory', { 'memory.limit_in_bytes': String(LIMIT) });
  const { child, ready } = holder(cgroup.procs, 8);
  t.teardown(() => { child.kill('SIGKILL'); });
  await ready;
  const watch = await watchContainerMemory(memoryEventLog(), { everyMs: 50, pressurePercent: 90, self: `/proc/${child.pid}`, startCloseMs: 60_000 });
  const first = ticks(watch, 4);
  watch.follow(child.pid!);
  await first;
  watch.stop();
  t.same(watch.checks, { close: 4, relaxed: 0 }, 'far from the limit and flat, yet close during the start-up period');
});
