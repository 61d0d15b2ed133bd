// Every OutOfMemoryError by its name, and the kernel's OOM kill by the container's limit,
// each caused for real: a JVM staged with this buildpack, launched as Cloud Foundry does,
// runs out of one kind of memory; the report names the kind and the setting that bounds it.
// The kinds that need a process or memory limit run in real cgroups (test/support/cgroup.ts).
import t from 'tap';
import { launch, stage, type Droplet } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { testStore } from '../support/test-store.ts';
import { joinCgroups, needCgroup, testCgroup } from '../support/cgroup.ts';

const store = await testStore(t, 'memory-deaths');
const storeEnv = store.env('mem');
const MiB = 1024 * 1024;

interface Report {
  reason: string;
  summary: string;
  exit: { status: number; signal: string | null };
  oomKind?: { kind: string; message: string; hint: string };
  containerMemory?: {
    cgroup?: { version: number; dir: string };
    limit?: number; peak?: number; unreadable: string[];
    verdict: { killed: boolean | null; evidence: string };
    processes: { pid: number; command: string; rssBytes: number }[];
    jvms: { pid: number; heapUsed?: number; heapCommitted?: number; metaspaceUsed?: number; threads?: number }[];
  };
  artifacts: { name: string }[];
}

async function reportOf(output: string): Promise<Report> {
  const key = /crash report -> s3:\/\/[^/]+\/(\S+)/.exec(output)?.[1];
  if (!key) throw new Error(`no report stored; the output ends:\n${output.slice(-2500)}`);
  return JSON.parse((await store.get(key)).toString('utf8')) as Report;
}

let droplet: Droplet;
t.before(async () => { droplet = await stage({ appDir: await javaApp('MemoryDeaths', 'Oom'), env: storeEnv }); });
const run = (command: string, extra: { env?: Record<string, string>; before?: string } = {}) =>
  launch(droplet, { command, env: { ...storeEnv, POSTMORTEM_GRACE: '0s', POSTMORTEM_MAX_DUMPS: '0', ...extra.env }, ...(extra.before ? { before: extra.before } : {}) });

// GCTimeLimit/GCHeapFreeLimit (ParallelGC's thresholds for "GC overhead limit exceeded",
// defaults 98/2) are lowered so that the JVM gives up in seconds rather than a minute.
const KINDS = [
  { kind: 'java-heap', command: 'java -Xmx32m -cp . Oom', message: /^Java heap space/, setting: /-Xmx/ },
  { kind: 'metaspace', command: 'java -XX:MaxMetaspaceSize=24m -cp . MemoryDeaths metaspace', message: /^Metaspace/, setting: /-XX:MaxMetaspaceSize/ },
  { kind: 'compressed-class-space', command: 'java -XX:CompressedClassSpaceSize=2m -cp . MemoryDeaths metaspace', message: /^Compressed class space/, setting: /-XX:CompressedClassSpaceSize/ },
  { kind: 'direct-buffer', command: 'java -XX:MaxDirectMemorySize=16m -cp . MemoryDeaths direct', message: /direct buffer memory/, setting: /-XX:MaxDirectMemorySize/ },
  { kind: 'gc-overhead', command: 'java -Xmx16m -XX:+UseParallelGC -XX:GCTimeLimit=50 -XX:GCHeapFreeLimit=20 -cp . MemoryDeaths gc-overhead', message: /^GC overhead limit exceeded/, setting: /-Xmx/ },
  { kind: 'array-size', command: 'java -Xmx32m -cp . MemoryDeaths array-size', message: /^Requested array size exceeds VM limit/, setting: /larger than the VM allows/ },
] as const;

for (const k of KINDS) {
  t.test(`OutOfMemoryError ${k.kind}: the report names it and the setting that bounds it`, async (t) => {
    const app = run(k.command);
    const result = await app.process;
    t.equal(result.exitCode, 1, 'the JVM exits 1 (uncaught OutOfMemoryError)');
    const report = await reportOf(app.output());
    t.equal(report.reason, 'oom');
    t.equal(report.oomKind?.kind, k.kind, `kind from: ${report.oomKind?.message}`);
    t.match(report.oomKind?.message ?? '', k.message);
    t.match(report.oomKind?.hint ?? '', k.setting, 'hint names what bounds it');
    t.match(report.summary, k.setting, 'the summary says it too');
    t.match(app.output(), new RegExp(`\\[postmortem\\] app ran out of`), 'the log line says it in words');
  });
}

t.test('OutOfMemoryError unable to create native thread, under a real pids limit', async (t) => {
  if (!(await needCgroup(t, 'pids'))) return;
  // Only the JVM joins the pids cgroup: the watchdog must keep the threads it needs to upload.
  const pids = await testCgroup(t, 'pids', { 'pids.max': '80' });
  const app = run(`${joinCgroups([pids.procs])}exec java -Xss256k -cp . MemoryDeaths threads`);
  const result = await app.process;
  t.equal(result.exitCode, 1);
  t.match(await pids.read('pids.events'), /^max [1-9]/m, 'the pids limit was hit');
  const report = await reportOf(app.output());
  t.equal(report.reason, 'oom');
  t.equal(report.oomKind?.kind, 'native-thread');
  t.match(report.oomKind?.message ?? '', /unable to create native thread/);
  t.match(report.summary, /-Xss/);
  t.match(report.summary, /pids/);
});

t.test('a JVM killed by the container\'s memory limit via direct buffers: container-oom with figures', async (t) => {
  if (!(await needCgroup(t, 'memory'))) return;
  const limit = 160 * MiB;
  const memory = await testCgroup(t, 'memory', { 'memory.limit_in_bytes': String(limit) });
  // The whole container is in the cgroup: launcher, watchdog and app, as under Garden.
  // Process RSS is read on a memory tick once usage is past 75% of the limit: 2 MiB every
  // 100 ms crosses the last 40 MiB in about 2 s, so a tick every second sees the JVM there.
  // (The pressure capture is off: its own crash folder is not what this test is about.)
  const app = run('java -Xmx32m -XX:MaxDirectMemorySize=1g -cp . MemoryDeaths direct 2097152 100', {
    before: joinCgroups([memory.procs]), env: { POSTMORTEM_MEMORY_CHECK_EVERY: '1s', POSTMORTEM_MEMORY_PRESSURE: 'off' },
  });
  const result = await app.process;
  t.equal(result.exitCode, 137, 'SIGKILL: the kernel OOM killer, no JVM message');
  t.match(await memory.read('memory.oom_control'), /^oom_kill [1-9]/m, 'the kernel counted an OOM kill');
  t.match(app.output(), new RegExp(`memory: cgroup v1 ${memory.dir}, limit 160 MiB`), 'the limit is known from the start');
  const report = await reportOf(app.output());
  t.equal(report.reason, 'container-oom');
  t.equal(report.exit.signal, 'SIGKILL');
  const facts = report.containerMemory!;
  t.ok(facts, 'containerMemory in the report');
  t.equal(facts.limit, limit, 'the limit');
  t.ok(facts.peak !== undefined && facts.peak > limit * 0.9 && facts.peak <= limit, `peak usage ${facts.peak} near the limit`);
  t.same(facts.unreadable, [], 'every counter was readable here');
  t.equal(facts.verdict.killed, true);
  const java = facts.processes.find((p) => p.command === 'java');
  t.ok(facts.processes.some((p) => p.command === 'postmortem watchdog' && p.pid === app.pid), 'the watchdog\'s own RSS is listed too');
  t.ok(java && java.rssBytes > 20 * MiB, `the JVM's last known RSS (${JSON.stringify(facts.processes)})`);
  const jvm = facts.jvms.find((j) => j.pid === java?.pid);
  t.ok(jvm?.heapCommitted !== undefined && (jvm.threads ?? 0) > 0, `the JVM's own counters from its hsperfdata (${JSON.stringify(facts.jvms)})`);
  t.match(report.summary, /^killed by the container's memory limit of 160 MiB/);
  t.match(report.summary, /java \(pid \d+\) last seen using [\d.]+ MiB: heap [\d.]+ [KM]iB/);
  t.comment(report.summary);
  t.match(app.output(), /\[postmortem\] app killed by the container's memory limit of 160 MiB/, 'the log line says it in words');
});

t.test('killed by the memory limit in its first milliseconds, before the crash watch loads: still container-oom', async (t) => {
  if (!(await needCgroup(t, 'memory'))) return;
  const limit = 100 * MiB;
  const memory = await testCgroup(t, 'memory', { 'memory.limit_in_bytes': String(limit) });
  // dd fills one 128 MiB buffer at once: over the limit within milliseconds of its start and the
  // largest process in the cgroup, so the kernel kills it, long before the watch (which loads
  // after the app's first output or 100 ms of quiet) reads anything. The OOM-kill account must
  // start from the counters read before the spawn, or this kill looks like any other SIGKILL.
  const app = run('dd if=/dev/zero of=/dev/null bs=128M count=1', {
    before: joinCgroups([memory.procs]), env: { POSTMORTEM_MEMORY_PRESSURE: 'off', POSTMORTEM_GC_SPIRAL: 'off' },
  });
  const result = await app.process;
  t.equal(result.exitCode, 137, 'SIGKILL by the kernel');
  t.match(await memory.read('memory.oom_control'), /^oom_kill 1$/m, 'the kernel counted one OOM kill');
  const report = await reportOf(app.output());
  t.equal(report.reason, 'container-oom', `reason (summary: ${report.summary})`);
  t.equal(report.containerMemory?.verdict.killed, true);
  t.match(report.containerMemory?.verdict.evidence, /oom_kill counter 0 -> 1/);
  t.match(app.output(), /\[postmortem\] app killed by the container's memory limit of 100 MiB/);
});
