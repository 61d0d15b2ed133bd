// The cgroup reader on a cgroup-shaped folder (the kernel's files, written by the test: the
// real ones are read end to end in test/e2e/memory-watch.test.ts), the threshold's re-arming,
// and the GC spiral verdict from counters shaped like hsperfdata's and from a real JVM's file.
import t from 'tap';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { findPerfData, readPerfData } from '../../src/capture/attach/perfdata.ts';
import { GcCounterReader, GcSpiralDetector, gcSample } from '../../src/capture/gc-spiral.ts';
import { PressureTrigger, readMemory } from '../../src/capture/memory-pressure.ts';
import { javaApp } from '../support/java.ts';
import { tempDir } from '../support/temp.ts';

const MiB = 1024 * 1024;

t.test('cgroup v1 and v2 (found by container-memory.ts): non-reclaimable = usage - inactive file', async (t) => {
  const root = await tempDir('pm-cgroup-');
  const v1 = path.join(root, 'memory', 'garden', 'app');
  await mkdir(v1, { recursive: true });
  await writeFile(path.join(v1, 'memory.usage_in_bytes'), `${300 * MiB}\n`);
  await writeFile(path.join(v1, 'memory.limit_in_bytes'), '9223372036854771712\n');
  await writeFile(path.join(v1, 'memory.stat'), `cache 1\ntotal_inactive_file ${100 * MiB}\nhierarchical_memory_limit ${512 * MiB}\n`);
  t.same(await readMemory({ version: 1, dir: v1 }), { usage: 300 * MiB, inactiveFile: 100 * MiB, nonReclaimable: 200 * MiB, limit: 512 * MiB }, 'a parent\'s limit from hierarchical_memory_limit');

  const v2 = path.join(root, 'app.slice');
  await mkdir(v2, { recursive: true });
  await writeFile(path.join(v2, 'memory.current'), `${90 * MiB}\n`);
  await writeFile(path.join(v2, 'memory.max'), 'max\n');
  await writeFile(path.join(v2, 'memory.stat'), `anon 1\ninactive_file ${10 * MiB}\n`);
  t.same(await readMemory({ version: 2, dir: v2 }), { usage: 90 * MiB, inactiveFile: 10 * MiB, nonReclaimable: 80 * MiB, limit: undefined }, 'memory.max "max" is no limit');
  await t.rejects(readMemory({ version: 1, dir: path.join(root, 'missing') }), 'a cgroup that is gone is an error, not a reading');
});

t.test('the threshold fires once, re-arms only after usage fell and the quiet period passed', async (t) => {
  const trigger = new PressureTrigger(90, 60_000);
  const at = (mib: number) => ({ usage: mib * MiB, inactiveFile: 0, nonReclaimable: mib * MiB, limit: 100 * MiB });
  t.notOk(trigger.check(at(80), 0));
  t.ok(trigger.check(at(91), 1000), 'crossing fires');
  t.notOk(trigger.check(at(95), 2000), 'staying above does not fire again');
  t.notOk(trigger.check(at(50), 3000), 'falling before the quiet period ends does not re-arm');
  t.notOk(trigger.check(at(92), 4000));
  t.notOk(trigger.check(at(87), 70_000), 'within 5% of the threshold does not re-arm');
  t.notOk(trigger.check(at(80), 71_000), 'fallen and quiet: re-armed, nothing to fire');
  t.ok(trigger.check(at(93), 72_000), 'the next crossing fires');
  t.notOk(new PressureTrigger(90, 0).check({ ...at(99), limit: undefined }, 0), 'no limit, no pressure');
});

t.test('GC spiral: share of the JVM clock spent in its collectors over the window', async (t) => {
  const hz = 1_000_000_000n;
  const counters = (seconds: number, gcSeconds: [number, number]) => new Map<string, string | bigint>([
    ['sun.os.hrt.frequency', hz], ['sun.os.hrt.ticks', BigInt(seconds) * hz],
    ['sun.gc.collector.0.time', BigInt(Math.round(gcSeconds[0] * 1e9))], ['sun.gc.collector.1.time', BigInt(Math.round(gcSeconds[1] * 1e9))],
    ['sun.gc.collector.0.invocations', 5n], ['sun.rt.jvmCapabilities', '1000'],
  ]);
  t.same(gcSample(counters(10, [1, 2])), { ticks: 10n * hz, gcTicks: 3n * hz, frequency: hz });
  t.equal(gcSample(new Map([['sun.os.hrt.ticks', 1n]])), undefined, 'no clock frequency, no sample');

  const d = new GcSpiralDetector(10_000, 90);
  t.equal(d.add(gcSample(counters(100, [1, 1]))!), undefined, 'one sample is no window');
  t.equal(d.add(gcSample(counters(105, [1, 4]))!), undefined, 'half a window is not judged');
  const healthy = d.add(gcSample(counters(110, [1, 4]))!)!;
  t.match(healthy, { spiral: false, windowSeconds: 10 });
  t.ok(Math.abs(healthy.share - 0.3) < 1e-9, `30% in GC (${healthy.share})`);
  t.match(d.add(gcSample(counters(120, [2, 13]))!), { spiral: true }, '10 of the last 10 s in GC');
  t.equal(d.add(gcSample(counters(5, [0, 0]))!), undefined, 'a restarted JVM starts a new window');
});

t.test('GC counters of a real JVM re-read in place agree with a full parse of its hsperfdata', async (t) => {
  const appDir = await javaApp('MemoryHog');
  const jvm = spawn('java', ['-Xmx32m', '-cp', appDir, 'MemoryHog', '8'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { jvm.kill('SIGKILL'); });
  await new Promise<void>((resolve) => jvm.stdout.on('data', (c: Buffer) => { if (/holding/.test(c.toString())) resolve(); }));
  const found = await findPerfData('/tmp', jvm.pid!, process.getuid!());
  t.ok(found, 'the JVM publishes its counters');
  const reader = (await GcCounterReader.open(found!.file))!;
  t.teardown(() => reader.close());
  const first = reader.sample();
  const parsed = gcSample((await readPerfData('/tmp', jvm.pid!, process.getuid!()))!)!;
  // The JVM's sampler updates sun.os.hrt.ticks every PerfDataSamplingInterval (50 ms).
  await new Promise((resolve) => setTimeout(resolve, 200));
  const second = reader.sample();
  t.equal(first.frequency, parsed.frequency);
  t.ok(first.ticks <= parsed.ticks && parsed.ticks <= second.ticks, 'the clock read in place brackets the full parse');
  t.ok(first.gcTicks <= parsed.gcTicks && parsed.gcTicks <= second.gcTicks, 'and so do the collectors\' times');
  t.ok(second.ticks > first.ticks, 'the clock moves');
});
