// Finding the app's JVMs the way the GC spiral watch does, with real processes: a JVM under a
// shell is found through the children files, and a shell that later execs java (the same pid,
// as the Java buildpack's start command does) is found once it has become the JVM: a pid that
// was not a JVM is looked at again, never remembered as "not a JVM".
import t from 'tap';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { AppJvms } from '../../src/capture/app-jvms.ts';
import { RUN_MARKER, RUN_MARKER_VALUE } from '../support/cleanup.ts';
import { javaApp } from '../support/java.ts';

const APP = await javaApp('AttachTarget');
t.teardown(() => rm(APP, { recursive: true, force: true }));

/** Polls find() until it returns something, within the deadline; [] if it never does. */
async function found(jvms: AppJvms, deadlineMs: number): Promise<number[]> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const pids = jvms.find();
    if (pids.length > 0 || Date.now() > until) return pids;
    await sleep(100);
  }
}

function run(script: string) {
  // Its own process group: the teardown kills the shell and the JVM below it together.
  const child = execa('bash', ['-c', script], { cwd: APP, env: { [RUN_MARKER]: RUN_MARKER_VALUE }, stdin: 'ignore', stdout: 'ignore', stderr: 'ignore', reject: false, detached: true });
  t.teardown(async () => {
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
    await child;
  });
  return child;
}

t.test('a JVM started by a shell: found below it, and not the shell', async (t) => {
  const shell = run('java -cp . AttachTarget; true');
  const jvms = new AppJvms(shell.pid!);
  const pids = await found(jvms, 30_000);
  t.equal(pids.length, 1, 'one JVM');
  t.not(pids[0], shell.pid, 'the shell itself is no JVM');
  t.match((await execa('cat', [`/proc/${pids[0]}/cmdline`])).stdout, /java/, 'the pid found runs java');
});

t.test('a shell that execs java later: the same pid is found once it is the JVM', async (t) => {
  const shell = run('sleep 1; exec java -cp . AttachTarget');
  const jvms = new AppJvms(shell.pid!);
  t.same(jvms.find(), [], 'while it is still the shell (sleeping), no JVM');
  t.same(await found(jvms, 30_000), [shell.pid], 'after the exec, the very pid is the JVM');
});
