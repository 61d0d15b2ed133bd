import t from 'tap';
import { classifyDeath, exitStatusOf } from '../../src/watchdog/death.ts';

const base = { stopRequested: false, outOfMemory: false, fatalError: false };

t.test('exit status is the app\'s own, 128+n for a signal', async (t) => {
  t.equal(exitStatusOf(3, undefined), 3);
  t.equal(exitStatusOf(undefined, 'SIGKILL'), 137);
  t.equal(exitStatusOf(undefined, 'SIGSEGV'), 139);
  t.equal(exitStatusOf(undefined, 'SIGABRT'), 134);
});

t.test('the cause wins over how the process ended', async (t) => {
  t.equal(classifyDeath({ ...base, exitCode: 1, outOfMemory: true }).reason, 'oom');
  t.equal(classifyDeath({ ...base, signal: 'SIGTERM', stopRequested: true, outOfMemory: true }).reason, 'oom');
  t.equal(classifyDeath({ ...base, signal: 'SIGABRT', fatalError: true }).reason, 'fatal-error');
  t.equal(classifyDeath({ ...base, signal: 'SIGTERM', stopRequested: true }).reason, 'stop');
  t.equal(classifyDeath({ ...base, signal: 'SIGSEGV' }).reason, 'signal');
  t.equal(classifyDeath({ ...base, exitCode: 0 }).reason, 'exit', 'exit 0 of a web process is still a death');
  const d = classifyDeath({ ...base, signal: 'SIGKILL' });
  t.same({ status: d.exitStatus, signal: d.signal, code: d.exitCode }, { status: 137, signal: 'SIGKILL', code: undefined });
  t.match(d.summary, /killed by SIGKILL/);
});

t.test('every OutOfMemoryError by its name, with the setting that bounds it', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['Java heap space', 'java-heap', /-Xmx/],
    ['Metaspace', 'metaspace', /-XX:MaxMetaspaceSize/],
    ['Compressed class space', 'compressed-class-space', /-XX:CompressedClassSpaceSize/],
    ['unable to create native thread: possibly out of memory or process/resource limits reached', 'native-thread', /-Xss.*pids/],
    ['unable to create new native thread', 'native-thread', /-Xss/],
    ['Cannot reserve 1048576 bytes of direct buffer memory (allocated: 16777216, limit: 16777216)', 'direct-buffer', /-XX:MaxDirectMemorySize/],
    ['Direct buffer memory', 'direct-buffer', /-XX:MaxDirectMemorySize/],
    ['GC overhead limit exceeded', 'gc-overhead', /-Xmx/],
    ['Requested array size exceeds VM limit', 'array-size', /larger than the VM allows/],
  ];
  for (const [message, kind, hint] of cases) {
    const d = classifyDeath({ ...base, exitCode: 1, outOfMemory: true, oomMessage: message });
    t.equal(d.reason, 'oom');
    t.equal(d.oom?.kind, kind, message);
    t.match(d.summary, hint, `${kind}: the hint is in the summary`);
    t.match(d.summary, message.slice(0, 20), 'and the JVM\'s own words');
  }
  t.match(classifyDeath({ ...base, exitCode: 1, outOfMemory: true, oomMessage: 'Java heap space' }).summary, /^ran out of Java heap \(OutOfMemoryError: Java heap space\) and exited with status 1/);
  const other = classifyDeath({ ...base, exitCode: 1, outOfMemory: true, oomMessage: 'something new' });
  t.equal(other.oom?.kind, 'other');
  t.match(other.summary, /something new/);
  t.match(classifyDeath({ ...base, exitCode: 1, outOfMemory: true }).summary, /message was not seen/, 'a heap dump without the JVM\'s message');
});

t.test('a SIGKILL with the cgroup\'s oom_kill counter moved is container-oom, said in words', async (t) => {
  const MiB = 1024 * 1024;
  const memory = {
    cgroup: { version: 1 as const, dir: '/sys/fs/cgroup/memory/x' }, limit: 1024 * MiB, peak: 1024 * MiB, unreadable: [],
    verdict: { killed: true, evidence: 'oom_kill counter 0 -> 1' },
    processes: [{ pid: 7, command: 'java', rssBytes: 980 * MiB, at: '' }, { pid: 1, command: 'postmortem watchdog', rssBytes: 40 * MiB, at: '' }],
    jvms: [{ pid: 7, heapUsed: 700 * MiB, heapCommitted: 720 * MiB, metaspaceUsed: 90 * MiB, threads: 60, source: '' }],
  };
  const d = classifyDeath({ ...base, signal: 'SIGKILL', memory });
  t.equal(d.reason, 'container-oom');
  t.equal(d.exitStatus, 137);
  t.match(d.summary, /^killed by the container's memory limit of 1 GiB \(the kernel's OOM killer sent SIGKILL; oom_kill counter 0 -> 1\); peak usage 1 GiB; java \(pid 7\) last seen using 980 MiB: heap 700 MiB used of 720 MiB committed, metaspace 90 MiB, 60 Java threads/);
  t.match(d.summary, /postmortem watchdog \(pid 1\) last seen using 40 MiB/);
  t.match(classifyDeath({ ...base, signal: 'SIGKILL', outOfMemory: true, oomMessage: 'Java heap space', memory }).summary, /^killed by the container's memory limit of 1 GiB after an OutOfMemoryError \(Java heap\)/, 'wins over the OutOfMemoryError that came first');
  t.match(classifyDeath({ ...base, signal: 'SIGKILL', memory, heapDumpUnfinished: true }).summary, /the heap dump the JVM was writing is INCOMPLETE/, 'a dump cut off by the kill is said to be incomplete');
  t.equal(classifyDeath({ ...base, signal: 'SIGKILL', memory: { ...memory, verdict: { killed: false, evidence: '' } } }).reason, 'signal', 'counter did not move: another SIGKILL');
  const unknown = classifyDeath({ ...base, signal: 'SIGKILL', memory: { ...memory, verdict: { killed: undefined, evidence: 'no readable oom_kill counter' } } });
  t.equal(unknown.reason, 'signal');
  t.match(unknown.summary, /may be the cause, but this cannot be told \(no readable oom_kill counter\)/);
  t.equal(classifyDeath({ ...base, signal: 'SIGTERM', stopRequested: true, memory }).reason, 'stop', 'only a SIGKILL is the OOM killer\'s');
});
