// The attach client against real JVMs (the machine's java 17): thread dumps, heap dumps and
// diagnostic commands of live JVMs, and the refusals that keep every other process alive.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { chmod, lstat, open, readFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { execa, type ResultPromise } from 'execa';
import { AttachError, attachCommand, attachStream, heapDump, jcmd, threadDump, type AttachFailure } from '../../../src/capture/attach/hotspot.ts';
import { attachCapability, readPerfData } from '../../../src/capture/attach/perfdata.ts';
import { javaApp } from '../../support/java.ts';
import { tempDir } from '../../support/temp.ts';
import { skipOrFailInCi } from '../../support/requirements.ts';

const HPROF_MAGIC = 'JAVA PROFILE 1.0.2';
/** The compiled AttachTarget fixture, shared by this file's tests. */
const APP = await javaApp('AttachTarget');
t.teardown(() => rm(APP, { recursive: true, force: true }));

// ---- real processes: started with execa, ready once they print "ready …", killed by the teardown
interface Running {
  /** The pid to attach to (for a JVM in its own namespaces: as seen from here). */
  pid: number;
  child: ResultPromise;
  /** Everything the process wrote to stdout so far. */
  stdout(): string;
  alive(): boolean;
}

/** Runs `file args` and waits for a line "ready …" (any process when `readyLine` is false). */
async function start(t: Test, file: string, args: string[], options: { cwd?: string; env?: Record<string, string>; readyLine?: boolean } = {}): Promise<Running> {
  const child = execa(file, args, { cwd: options.cwd, env: options.env, stdin: 'ignore', reject: false, buffer: false });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  let exited = false;
  void child.then(() => (exited = true));
  t.teardown(async () => {
    // SIGTERM lets a JVM remove its socket and hsperfdata; execa sends SIGKILL 5 s later if needed
    if (!exited) child.kill('SIGTERM');
    await child;
    await removeLeftovers(child.pid!);
  });
  if (options.readyLine !== false) {
    const until = Date.now() + 30_000;
    while (!/^ready /m.test(out)) {
      if (exited) throw new Error(`${file} exited before it was ready: ${out}${err}`);
      if (Date.now() > until) throw new Error(`${file} not ready within 30 s: ${out}${err}`);
      await sleep(20);
    }
  }
  return { pid: child.pid!, child, stdout: () => out, alive: () => !exited && processAlive(child.pid!) };
}

/** Polls `check` until it holds or `ms` pass; true when it held. */
async function waitFor(check: () => boolean | Promise<boolean>, ms = 30_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) return false;
    await sleep(20);
  }
  return true;
}

/** What a killed JVM leaves in /tmp (-Xrs JVMs die of SIGTERM without cleaning up). */
async function removeLeftovers(pid: number): Promise<void> {
  if (processAlive(pid)) return;
  await rm(`/tmp/.java_pid${pid}`, { force: true });
  for (const dir of await readdir('/tmp').catch(() => [] as string[])) {
    if (dir.startsWith('hsperfdata_')) await rm(path.join('/tmp', dir, String(pid)), { force: true });
  }
}

/** A running AttachTarget JVM with extra JVM options. */
async function startJvm(t: Test, jvmOptions: string[] = [], env: Record<string, string> = {}): Promise<Running> {
  return start(t, 'java', [...jvmOptions, '-cp', APP, 'AttachTarget'], { cwd: APP, env });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !/\) [ZX] /.test(readStat(pid));
}

function readStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return '';
  }
}

/** The children of a process (e.g. the JVM that `unshare --fork` started). */
async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.split(/\s+/).filter(Boolean).map(Number);
}

// ----

async function scratch(t: Test): Promise<string> {
  const dir = await tempDir('pm-attach-');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function head(file: string, bytes: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function rejectsWith(t: Test, promise: Promise<unknown>, reason: AttachFailure, message: RegExp): Promise<AttachError | undefined> {
  try {
    await promise;
    t.fail(`expected an AttachError (${reason})`);
    return undefined;
  } catch (error) {
    t.type(error, AttachError);
    t.equal((error as AttachError).reason, reason, 'reason');
    t.match((error as AttachError).message, message);
    return error as AttachError;
  }
}

t.test('thread dump of a running JVM: its main thread and a thread we named; the socket is in /tmp whatever TMPDIR says', async (t) => {
  const elsewhere = await scratch(t);
  const jvm = await startJvm(t, [`-Djava.io.tmpdir=${elsewhere}`], { TMPDIR: elsewhere, THREAD_NAME: 'pm-named-worker' });
  const lines: string[] = [];
  const dump = await threadDump(jvm.pid, { locks: true, log: (l) => lines.push(l) });
  t.match(dump, /Full thread dump .*VM/);
  t.match(dump, /^"main" #\d+/m, 'main thread');
  t.match(dump, /^"pm-named-worker" #\d+ daemon/m, 'the thread the app named');
  t.match(dump, /AttachTarget\.parkHere/, 'its stack');
  t.match(dump, /Locked ownable synchronizers/, 'locks: true is jstack -l');
  t.match(lines.join('\n'), /sent SIGQUIT[\s\S]*opened its attach socket after \d+ ms/);
  t.ok((await lstat(`/tmp/.java_pid${jvm.pid}`)).isSocket(), 'HotSpot ignores TMPDIR and java.io.tmpdir: the socket is in /tmp');
  await t.rejects(lstat(path.join(elsewhere, `.java_pid${jvm.pid}`)), 'nothing in TMPDIR');
  await t.rejects(lstat(path.join(APP, `.attach_pid${jvm.pid}`)), 'the trigger file is removed');
  t.notMatch(jvm.stdout(), /Full thread dump/, 'the SIGQUIT woke the attach listener; no dump went to the app log');

  // the listener is up now: a second attach connects at once, no SIGQUIT
  lines.length = 0;
  const again = await threadDump(jvm.pid, { log: (l) => lines.push(l) });
  t.match(again, /"pm-named-worker"/);
  t.notMatch(lines.join('\n'), /SIGQUIT/);
  t.ok(jvm.alive());
});

t.test('jcmd VM.version, the system properties, and a failing diagnostic command', async (t) => {
  const jvm = await startJvm(t);
  const version = await jcmd(jvm.pid, 'VM.version');
  t.match(version, /OpenJDK 64-Bit Server VM version 17\./);
  t.match(version, /JDK 17\./);
  const raw = await attachCommand(jvm.pid, 'jcmd', ['VM.version']);
  t.equal(raw.code, 0);
  t.equal(raw.output, version);

  const props = await attachCommand(jvm.pid, 'properties', []);
  t.equal(props.code, 0);
  t.match(props.output, /^java\.specification\.version=17$/m);

  const unknown = await attachCommand(jvm.pid, 'jcmd', ['No.Such.Command']);
  t.equal(unknown.code, -1, 'the JVM reports the failure in the result code');
  t.match(unknown.output, /Unknown diagnostic command/);
  const error = await rejectsWith(t, jcmd(jvm.pid, 'No.Such.Command'), 'command-failed', /failed "jcmd No\.Such\.Command" \(result -1\): java\.lang\.IllegalArgumentException: Unknown diagnostic command/);
  t.equal(error?.result?.code, -1);
});

t.test('heap dump: an hprof file written by the JVM itself, or gzipped; never over an existing file', async (t) => {
  const dir = await scratch(t);
  const jvm = await startJvm(t);
  const file = path.join(dir, 'live.hprof');
  const dump = await heapDump(jvm.pid, file);
  t.equal(dump.file, file);
  t.equal(dump.localPath, file);
  t.equal(dump.compressed, false);
  t.equal(dump.size, (await stat(file)).size);
  t.ok(dump.size > 1024 * 1024, 'the fixture keeps 1 MiB of arrays');
  t.equal((await head(file, HPROF_MAGIC.length)).toString('latin1'), HPROF_MAGIC);
  t.match(dump.output, /Heap dump file created \[\d+ bytes/);

  const gz = path.join(dir, 'live.hprof.gz');
  const packed = await heapDump(jvm.pid, gz, { live: true, gzipLevel: 1 });
  t.equal(packed.compressed, true, 'JDK 17 writes gzip itself');
  t.ok(packed.size < dump.size);
  t.equal(gunzipSync(await readFile(gz)).subarray(0, HPROF_MAGIC.length).toString('latin1'), HPROF_MAGIC);

  await rejectsWith(t, heapDump(jvm.pid, file), 'usage', /already exists/);
  await rejectsWith(t, heapDump(jvm.pid, 'relative.hprof'), 'usage', /absolute path/);
  await rejectsWith(t, heapDump(jvm.pid, path.join(dir, 'no/such/folder.hprof')), 'usage', /folder .* does not exist/);
  await rejectsWith(t, heapDump(jvm.pid, path.join(dir, 'x.hprof'), { gzipLevel: 10 }), 'usage', /gzipLevel must be an integer from 1 to 9, got 10/);
  t.ok(jvm.alive());
});

t.test('-XX:+DisableAttachMechanism: refused at once from its hsperfdata, before any signal', async (t) => {
  const jvm = await startJvm(t, ['-XX:+DisableAttachMechanism']);
  const perf = await readPerfData('/tmp', jvm.pid, process.geteuid!());
  t.equal(perf && attachCapability(perf), false, 'sun.rt.jvmCapabilities starts with 0');
  await rejectsWith(t, threadDump(jvm.pid, { timeoutMs: 5000 }), 'attach-disabled', /runs with -XX:\+DisableAttachMechanism .*Nothing was sent to it/);
  await t.rejects(lstat(`/tmp/.attach_pid${jvm.pid}`), 'no trigger file was made: refused before any attempt');
  await sleep(300); // an absence: give a SIGQUIT, had one been sent, time to print
  t.notMatch(jvm.stdout(), /Full thread dump/, 'no SIGQUIT was sent');
  t.ok(jvm.alive());
});

t.test('-XX:+DisableAttachMechanism without hsperfdata: a clear timeout within the bound, the JVM alive', async (t) => {
  const jvm = await startJvm(t, ['-XX:+DisableAttachMechanism', '-XX:-UsePerfData']);
  const started = Date.now();
  await rejectsWith(
    t,
    threadDump(jvm.pid, { attachTimeoutMs: 1500 }),
    'timeout',
    new RegExp(`JVM ${jvm.pid} \\(java\\) did not open its attach socket /tmp/\\.java_pid${jvm.pid} within 1500 ms of SIGQUIT: it runs with -XX:\\+DisableAttachMechanism`),
  );
  const took = Date.now() - started;
  // The design's bounds: at least the attach timeout, and the attach timeout (not the 60 s overall one) ended it.
  t.ok(took >= 1500 && took < 60_000, `gave up after ${took} ms`);
  t.ok(await waitFor(() => /Full thread dump/.test(jvm.stdout())), 'with attach disabled, SIGQUIT prints a thread dump to the app\'s stdout');
  t.ok(jvm.alive());

  // the overall deadline bounds the wait, too
  // (the message names the 400 ms overall deadline, not the attach timeout: that one ended it)
  await rejectsWith(t, threadDump(jvm.pid, { timeoutMs: 400 }), 'timeout', /timed out after 400 ms waiting for JVM \d+ to open its attach socket \/tmp\/\.java_pid\d+ after SIGQUIT/);
  t.ok(jvm.alive());
});

t.test('not a JVM: refused from /proc/<pid>/maps, and the process is NOT sent SIGQUIT (which would kill it)', async (t) => {
  const sleeper = await start(t, 'sleep', ['30'], { readyLine: false });
  t.ok(await waitFor(async () => (await readFile(`/proc/${sleeper.pid}/comm`, 'utf8').catch(() => '')).trim() === 'sleep'), 'sleep has been exec\'d');
  await rejectsWith(t, threadDump(sleeper.pid), 'not-a-jvm', new RegExp(`process ${sleeper.pid} \\(sleep\\) is not a HotSpot JVM: no libjvm\\.so .*Nothing was sent to it`));
  await rejectsWith(t, heapDump(sleeper.pid, '/tmp/pm-never.hprof'), 'not-a-jvm', /not a HotSpot JVM/);
  await sleep(300);
  t.ok(sleeper.alive(), 'sleep 30 still runs');
  await t.rejects(lstat(`/tmp/.attach_pid${sleeper.pid}`), 'no trigger file was left');
});

t.test('no such process, and bad arguments', async (t) => {
  const gone = execa('true');
  await gone;
  await rejectsWith(t, threadDump(gone.pid!), 'no-such-process', new RegExp(`no process ${gone.pid}`));
  await rejectsWith(t, threadDump(0), 'usage', /pid must be a positive integer, got 0/);
  await rejectsWith(t, threadDump(1.5), 'usage', /pid must be a positive integer/);
  await rejectsWith(t, threadDump(process.pid, { timeoutMs: -1 }), 'usage', /timeoutMs must be a positive number of milliseconds, got -1/);
  await rejectsWith(t, attachCommand(process.pid, 'jcmd', ['a', 'b', 'c', 'd']), 'usage', /at most 3 arguments, got 4/);
  await rejectsWith(t, jcmd(process.pid, 'x'.repeat(1025)), 'usage', /argument 1 is 1025 bytes long; the JVM accepts at most 1024/);
  await rejectsWith(t, threadDump(process.pid), 'not-a-jvm', /\(node\) is not a HotSpot JVM/);
});

t.test('-Xrs: the listener starts with the JVM, so attach works without any signal; with no socket we never send SIGQUIT', async (t) => {
  const xrs = await startJvm(t, ['-Xrs']);
  const lines: string[] = [];
  t.match(await jcmd(xrs.pid, 'VM.version', { log: (l) => lines.push(l) }), /JDK 17/);
  t.notMatch(lines.join('\n'), /SIGQUIT/);

  // no socket (attach disabled, no hsperfdata to say so) and no SIGQUIT handler: SIGQUIT would kill it
  const bare = await startJvm(t, ['-Xrs', '-XX:+DisableAttachMechanism', '-XX:-UsePerfData']);
  await rejectsWith(t, threadDump(bare.pid), 'no-sigquit-handler', /no SIGQUIT handler \(it runs with -Xrs, or is still starting\): SIGQUIT would kill it, so none was sent/);
  await sleep(300);
  t.ok(bare.alive(), 'still running');
  t.ok(xrs.alive());
});

t.test('a stale socket file (left by a dead process with the same pid) is not mistaken for a listener', async (t) => {
  const jvm = await startJvm(t);
  // a unix socket nobody listens on any more, where the JVM's will appear: its process was killed
  const stale = `/tmp/.java_pid${jvm.pid}`;
  const owner = await start(t, process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('ready stale'))`], {});
  owner.child.kill('SIGKILL');
  await owner.child;
  t.ok((await lstat(stale)).isSocket());
  t.match(await threadDump(jvm.pid), /"pm-attach-worker"/, 'SIGQUIT, and the JVM replaced the stale socket');
});

t.test('two attaches at once from this process wake the JVM once', async (t) => {
  const jvm = await startJvm(t);
  const [dump, version] = await Promise.all([threadDump(jvm.pid), jcmd(jvm.pid, 'VM.version')]);
  t.match(dump, /"main"/);
  t.match(version, /JDK 17/);
  await sleep(200);
  t.notMatch(jvm.stdout(), /Full thread dump/, 'no second SIGQUIT reached the JVM\'s signal handler');
});

t.test('streaming output, and cancelling', async (t) => {
  const jvm = await startJvm(t);
  const { code, output } = await attachStream(jvm.pid, 'threaddump', []);
  t.equal(code, 0);
  let text = '';
  for await (const chunk of output) text += chunk.toString();
  t.match(text, /"pm-attach-worker"/);

  const controller = new AbortController();
  controller.abort(new Error('user pressed ^C'));
  const error = await rejectsWith(t, threadDump(jvm.pid, { signal: controller.signal }), 'aborted', /cancelled while attaching to JVM/);
  t.match((error?.cause as Error | undefined)?.message, /user pressed/);
});

t.test('a JVM in its own pid and mount namespaces (a container): its own pid and its own /tmp', async (t) => {
  const dir = APP;
  const probe = await execa('unshare', ['--pid', '--fork', '--mount', '--mount-proc', 'true'], { reject: false });
  if (probe.exitCode !== 0) {
    skipOrFailInCi(t, `unshare is not allowed here (needs root / CAP_SYS_ADMIN): ${probe.stderr.trim()}`);
    return;
  }
  // the JVM is pid 1 of a new pid namespace and sees a private tmpfs at /tmp (its classes copied
  // there: the tmpfs hides our /tmp, where the fixture was compiled)
  const outer = await start(t, 'unshare', ['--pid', '--fork', '--kill-child', '--mount', '--mount-proc', 'sh', '-c', 'mount -t tmpfs tmpfs /tmp && mkdir /tmp/app && cp ./*.class /tmp/app/ && cd /tmp/app && exec java -cp . AttachTarget'], { cwd: dir });
  t.match(outer.stdout(), /^ready 1$/m, 'pid 1 inside');
  const [pid] = await childrenOf(outer.pid);
  t.ok(pid, 'the JVM as seen from here');
  t.teardown(() => {
    // unshare --kill-child takes it down with unshare; this is in case it did not (it holds unshare's stdout)
    if (processAlive(pid!)) process.kill(pid!, 'SIGKILL');
  });
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  t.match(status, new RegExp(`^NSpid:\\s+${pid}\\s+1$`, 'm'));

  const dump = await threadDump(pid!);
  t.match(dump, /"pm-attach-worker"/);
  t.ok((await lstat(`/proc/${pid}/root/tmp/.java_pid1`)).isSocket(), 'the socket is .java_pid1 in the JVM\'s own /tmp');
  await t.rejects(lstat('/tmp/.java_pid1'), 'not in ours');
  await t.rejects(lstat(`/tmp/.java_pid${pid}`));

  const heap = await heapDump(pid!, '/tmp/in-container.hprof');
  t.equal(heap.file, '/tmp/in-container.hprof');
  t.equal(heap.localPath, `/proc/${pid}/root/tmp/in-container.hprof`);
  t.equal((await head(heap.localPath, HPROF_MAGIC.length)).toString('latin1'), HPROF_MAGIC);
  await t.rejects(lstat('/tmp/in-container.hprof'));
  await rejectsWith(t, heapDump(pid!, '/tmp/in-container.hprof'), 'usage', /already exists/);
});

t.test('a JVM of another user: root may attach (the trigger file is handed to the JVM\'s user)', async (t) => {
  if (process.geteuid!() !== 0) {
    skipOrFailInCi(t, 'needs root (the development and CI machines run the tests as root)');
    return;
  }
  const dir = APP;
  await chmod(dir, 0o755); // mkdtemp made it 0700
  const jvm = await start(t, 'setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'java', '-cp', dir, 'AttachTarget'], { cwd: dir });
  const dump = await threadDump(jvm.pid);
  t.match(dump, /"pm-attach-worker"/);
  t.equal((await lstat(`/tmp/.java_pid${jvm.pid}`)).uid, 65534, 'the JVM\'s own socket');
  t.ok(jvm.alive());
});
