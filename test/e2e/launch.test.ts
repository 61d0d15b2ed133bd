// The takeover at launch, against the platform's real sequence (test/support/cf.ts):
// stop handling, log pass-through, fail-open cases, and what must never be wrapped.
import t, { type Test } from 'tap';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { launch, stage, type Droplet } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { freePort } from '../support/ports.ts';
import { tempDir } from '../support/temp.ts';

const healthyApp = await javaApp('Healthy');
const healthyCommand = 'java -Xmx64m -XX:-UsePerfData -cp . Healthy';
// A local folder store: these tests are about the launch, not about S3.
const fileStore = (droplet: Droplet) => ({ POSTMORTEM_STORE: `file://${path.join(droplet.home, 'dumps')}` });

async function topProcess(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
}

async function get(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`);
  return `${res.status} ${await res.text()}`;
}

t.test('SIGTERM: forwarded to the app, no hold, exit before the platform\'s SIGKILL, output intact', async (t) => {
  const droplet = await stage({ appDir: healthyApp });
  const port = await freePort();
  const marker = path.join(droplet.home, 'tmp', 'stopped.txt');
  const app = launch(droplet, { command: healthyCommand, port, env: { ...fileStore(droplet), LINES: '5000', STOP_MARKER: marker, POSTMORTEM_GRACE: '60s' } });
  await app.waitFor(/healthy app: listening/);
  t.match(await topProcess(app.pid), /node .*watchdog\.mjs -- bash -c java/, 'watchdog is the top process');
  t.equal(await get(port), '200 ok\n', 'app serves through the takeover');
  const sentAt = Date.now();
  process.kill(app.pid, 'SIGTERM');
  const result = await app.process;
  const took = Date.now() - sentAt;
  t.ok(took < 10_000, `exited ${took} ms after SIGTERM (< 10 s)`);
  t.equal(result.exitCode, 143, 'the JVM\'s status for SIGTERM (128+15)');
  t.equal(await readFile(marker, 'utf8'), 'got SIGTERM\n', 'the app itself got SIGTERM');
  t.notMatch(app.output(), /holding this container/, 'no hold on a stop');
  const lines = result.stdout.split('\n').filter((l) => l.startsWith('line '));
  t.equal(lines.length, 5000, 'every stdout line arrived');
  t.ok(lines.every((l, i) => l === `line ${i + 1} of 5000`), 'intact and in order');
});

t.test('an app that exits on its own: report stored, hold, then its own status', async (t) => {
  const appDir = healthyApp;
  const droplet = await stage({ appDir });
  const app = launch(droplet, { command: 'echo going down; exit 3', env: { ...fileStore(droplet), POSTMORTEM_GRACE: '1s' } });
  const result = await app.process;
  t.equal(result.exitCode, 3);
  t.match(app.output(), /\[postmortem\] app exited with status 3/);
  t.match(app.output(), /holding this container for 1 s/);
  const reportLine = app.output().split('\n').find((l) => l.includes('crash report ->'))!;
  const reportPath = reportLine.replace(/^.*crash report -> /, '').trim();
  const report = JSON.parse(await readFile(reportPath, 'utf8'));
  t.equal(report.reason, 'exit');
  t.equal(report.exit.status, 3);
  t.same(report.artifacts.map((a: { name: string }) => a.name), ['log-tail.txt']);
});

t.test('fail open: the app starts and serves, unwrapped, with one warning line', async (t) => {
  const cases: [string, (d: Droplet) => Promise<Record<string, string>>, RegExp][] = [
    ['broken store URL', async () => ({ POSTMORTEM_STORE: 'ftp://example/dumps' }), /POSTMORTEM_STORE/],
    ['missing credentials', async () => ({ POSTMORTEM_STORE: 's3://dumps', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' }), /credential|AWS_ACCESS_KEY_ID/i],
    ['bad grace period', async () => ({ POSTMORTEM_GRACE: 'soon' }), /POSTMORTEM_GRACE/],
    ['missing runtime', async (d) => { await rm(path.join(d.depsDir, d.depsIdx, 'node/bin/node')); return {}; }, /runtime or watchdog missing/],
    ['damaged watchdog bundle', async (d) => {
      const chunks = path.join(d.depsDir, d.depsIdx, 'postmortem/chunks');
      const main = (await readdir(chunks)).find((f) => f.startsWith('watchdog-main-'));
      if (!main) throw new Error(`no watchdog-main chunk in ${chunks}`);
      await writeFile(path.join(chunks, main), 'this is not JavaScript (\n');
      return {};
    }, /watchdog cannot be loaded/],
  ];
  for (const [name, breakIt, why] of cases) {
    const droplet = await stage({ appDir: healthyApp });
    const port = await freePort();
    const env = await breakIt(droplet);
    const app = launch(droplet, { command: healthyCommand, port, env });
    await app.waitFor(/healthy app: listening/);
    t.equal(await get(port), '200 ok\n', `${name}: app serves`);
    t.match(await topProcess(app.pid), /^java /, `${name}: the app is the top process, as without us`);
    const warnings = app.output().split('\n').filter((l) => l.startsWith('[postmortem]'));
    t.equal(warnings.length, 1, `${name}: one line: ${warnings.join(' | ')}`);
    t.match(warnings[0] ?? '', why);
    process.kill(app.pid, 'SIGTERM');
    await app.process;
  }
});

t.test('not wrapped: the lifecycle shell (cf ssh) and tasks; tasks when asked', async (t) => {
  const droplet = await stage({ appDir: healthyApp });
  // The probe names its own parent: wrapped, that is the watchdog; not wrapped, whoever ran the launcher.
  const probe = 'echo "probe parent: $(tr "\\0" " " < /proc/$PPID/cmdline)"';
  const ranUnwrapped = (t: Test, output: string, what: string) => {
    const parent = /^probe parent: (.+)$/m.exec(output)?.[1];
    t.ok(parent, `${what}: the probe ran (${JSON.stringify(output.slice(0, 200))})`);
    t.notMatch(parent ?? 'watchdog', /watchdog/, `${what}: not wrapped (parent: ${parent})`);
  };
  const shell = launch(droplet, { command: probe, argv0: '/tmp/lifecycle/shell', env: fileStore(droplet) });
  await shell.process;
  ranUnwrapped(t, shell.output(), 'lifecycle shell');
  const cli = launch(droplet, { command: 'postmortem --help | head -n 1', argv0: '/tmp/lifecycle/shell', env: fileStore(droplet) });
  await cli.process;
  t.match(cli.output(), /^Usage: postmortem /m, 'the postmortem CLI is on the PATH of a lifecycle shell');
  const task = launch(droplet, { command: probe, task: true, env: fileStore(droplet) });
  await task.process;
  ranUnwrapped(t, task.output(), 'task');
  const wantedTask = launch(droplet, { command: probe, task: true, env: { ...fileStore(droplet), POSTMORTEM_TASKS: 'true', POSTMORTEM_GRACE: '0s' } });
  await wantedTask.process;
  t.match(wantedTask.output(), /^probe parent: .*watchdog\.mjs -- bash -c/m, 'task wrapped with POSTMORTEM_TASKS=true');
});

t.test('final buildpacks that do not copy deps profile.d (java-buildpack v4), zero-padded index, last buildpack', async (t) => {
  for (const options of [{ finalCopiesProfileD: false }, { depsIdx: '03' }, { asFinal: true }]) {
    const droplet = await stage({ appDir: healthyApp, ...options });
    const port = await freePort();
    const app = launch(droplet, { command: healthyCommand, port, env: fileStore(droplet) });
    await app.waitFor(/healthy app: listening/);
    t.match(await topProcess(app.pid), /node .*\/deps\/\d+\/postmortem\/watchdog\.mjs -- bash -c java/, `${JSON.stringify(options)}: wrapped once`);
    t.equal((await topProcess(app.pid)).match(/watchdog/g)?.length, 1);
    process.kill(app.pid, 'SIGTERM');
    t.equal((await app.process).exitCode, 143);
  }
});

t.test('SIGQUIT reaches the JVM (thread dump) and the app keeps serving', async (t) => {
  const droplet = await stage({ appDir: healthyApp });
  const port = await freePort();
  const app = launch(droplet, { command: healthyCommand, port, env: fileStore(droplet) });
  await app.waitFor(/healthy app: listening/);
  process.kill(app.pid, 'SIGQUIT');
  await app.waitFor(/^Full thread dump/);
  t.equal(await get(port), '200 ok\n', 'still serving after the thread dump');
  process.kill(app.pid, 'SIGTERM');
  t.equal((await app.process).exitCode, 143);
});

t.test('a SIGTERM during the hold ends it at once, with the app\'s status', async (t) => {
  const droplet = await stage({ appDir: healthyApp });
  const app = launch(droplet, { command: 'exit 7', env: { ...fileStore(droplet), POSTMORTEM_GRACE: '60s' } });
  await app.waitFor(/holding this container for 60 s/);
  const sentAt = Date.now();
  process.kill(app.pid, 'SIGTERM');
  const result = await app.process;
  // The design's bound: a stop ends the hold and the watchdog is gone within POSTMORTEM_STOP_DEADLINE (9 s), far short of the 60 s hold.
  t.ok(Date.now() - sentAt < 9000, `hold ended ${Date.now() - sentAt} ms after SIGTERM`);
  t.equal(result.exitCode, 7);
});

t.test('the app\'s NODE_OPTIONS (an APM agent\'s --require) go to the app, never into the watchdog', async (t) => {
  // The app must see exactly what it sees without us. (The test runner itself adds its own
  // --import to NODE_OPTIONS of every child, so "unset" cannot be observed here.)
  const droplet = await stage({ appDir: healthyApp });
  const probe = 'echo "app NODE_OPTIONS=[${NODE_OPTIONS-unset}]"';
  const appLine = (text: string) => text.split('\n').find((l) => l.startsWith('app NODE_OPTIONS='));
  const variants: Record<string, string>[] = [{ NODE_OPTIONS: '--require /nonexistent/agent.js' }, {}];
  for (const extra of variants) {
    const env = { ...fileStore(droplet), POSTMORTEM_GRACE: '0s', ...extra };
    const wrapped = launch(droplet, { command: probe, env });
    await wrapped.process;
    const plain = launch(droplet, { command: probe, env: { ...env, POSTMORTEM_DISABLE: 'true' } });
    await plain.process;
    t.match(wrapped.output(), /\[postmortem\] app exited with status 0/, `${JSON.stringify(extra)}: the watchdog ran`);
    t.equal(appLine(wrapped.output()), appLine(plain.output()), `${JSON.stringify(extra)}: same NODE_OPTIONS as without us: ${appLine(plain.output())}`);
  }
});

t.test('an app that ignores SIGTERM is killed by us before the platform\'s SIGKILL at 10 s', async (t) => {
  const droplet = await stage({ appDir: healthyApp });
  const app = launch(droplet, { command: 'trap "" TERM; echo ignoring TERM; while :; do sleep 0.2; done', env: { ...fileStore(droplet), POSTMORTEM_GRACE: '60s' } });
  await app.waitFor(/ignoring TERM/);
  const sentAt = Date.now();
  process.kill(app.pid, 'SIGTERM');
  const result = await app.process;
  const took = Date.now() - sentAt;
  // The default POSTMORTEM_STOP_DEADLINE (9 s) kills the app's group 2 s before it (stop.ts).
  t.ok(took < 10_000 && took >= 7000, `exited ${took} ms after SIGTERM`);
  t.equal(result.exitCode, 137);
  t.match(app.output(), /did not stop within 7\.0 s of SIGTERM; SIGKILL to its processes/);
});

t.test('other buildpacks\' profile.d scripts around ours: a lower index runs first, the final Java buildpack\'s after; wrapped once', async (t) => {
  // A supply buildpack listed before us (index 0) and a final buildpack (index 2) whose
  // profile.d rebuilds JAVA_OPTS from the environment, as java-buildpack v5's 00_java_opts.sh does.
  const droplet = await stage({
    appDir: healthyApp,
    depsIdx: '1',
    otherDeps: {
      '0': { 'apm.sh': 'export PM_ORDER="${PM_ORDER:-}lower;"\nexport JAVA_OPTS="${JAVA_OPTS:-} -Dapm.agent=on"\n' },
      '2': { '00_java_opts.sh': 'export PM_ORDER="${PM_ORDER:-}final;"\nexport JAVA_OPTS="-Xss512k ${JAVA_OPTS:-}"\n' },
    },
  });
  const command = 'echo "order=$PM_ORDER opts=$JAVA_OPTS parent=$(tr "\\0" " " < /proc/$PPID/cmdline)"';
  const app = launch(droplet, { command, env: { ...fileStore(droplet), POSTMORTEM_GRACE: '0s' } });
  t.equal((await app.process).exitCode, 0, app.output());
  const line = /^order=.*$/m.exec(app.output())?.[0] ?? '';
  t.match(line, /order=lower;final;/, 'profile.d scripts ran in index order');
  t.match(line, /opts=-Xss512k\s+-Dapm\.agent=on/, 'each script saw the one before it');
  t.match(line, /parent=\S*node .*\/deps\/1\/postmortem\/watchdog\.mjs -- bash -c/, 'the app ran under our watchdog at index 1');
  t.equal(line.match(/watchdog/g)?.length, 1, 'wrapped once');
});

t.test('an entrypoint_prefix of the last buildpack: the launcher execs the prefix with our rewritten command', async (t) => {
  const droplet = await stage({ appDir: healthyApp });
  // What a final buildpack's entrypoint_prefix may be: a program that runs the command it is given.
  const prefix = path.join(droplet.root, 'entrypoint');
  await writeFile(prefix, '#!/usr/bin/env bash\necho "entrypoint prefix ran"\nexec bash -c "$1"\n', { mode: 0o755 });
  const port = await freePort();
  const app = launch(droplet, { command: healthyCommand, port, entrypointPrefix: prefix, env: fileStore(droplet) });
  await app.waitFor(/healthy app: listening/);
  t.match(app.output(), /entrypoint prefix ran/);
  t.match(await topProcess(app.pid), /node .*watchdog\.mjs -- bash -c java/, 'the watchdog is the top process');
  process.kill(app.pid, 'SIGTERM');
  t.equal((await app.process).exitCode, 143);
});

t.test('the droplet at /home/vcap with no DEPS_DIR: the /home/vcap/deps fallback finds the watchdog', async (t) => {
  const droplet = await stage({ appDir: healthyApp });
  const store = await tempDir('pm-homevcap-store-');
  const port = await freePort();
  const app = launch(droplet, { command: healthyCommand, port, atHomeVcap: true, env: { POSTMORTEM_STORE: `file://${store}` } });
  await app.waitFor(/healthy app: listening/);
  t.match(await topProcess(app.pid), /^\/home\/vcap\/deps\/0\/node\/bin\/node .*\/home\/vcap\/deps\/0\/postmortem\/watchdog\.mjs -- bash -c java/, 'wrapped from /home/vcap/deps');
  t.equal(await get(port), '200 ok\n');
  process.kill(app.pid, 'SIGTERM');
  t.equal((await app.process).exitCode, 143);
});

t.test('the app writes to pipes, as without us (not Node.js\'s socketpairs), and gets none of our descriptors or variables', async (t) => {
  const droplet = await stage({ appDir: healthyApp });
  // Globbed by the shell itself (no command substitution's descriptors in the listing).
  const probe = 'f=(/proc/$$/fd/*); echo "fds: ${f[*]##*/}"; echo "fd 1 $(readlink /proc/$$/fd/1)"; echo "fd 2 $(readlink /proc/$$/fd/2)"; echo "vars: $(env | grep -c "^POSTMORTEM_OUTPUT_FDS=")"; echo "zombies under the parent: $(ps -o stat= --ppid $PPID | grep -c Z)"';
  const env = { ...fileStore(droplet), POSTMORTEM_GRACE: '0s' };
  const app = launch(droplet, { command: probe, env });
  t.equal((await app.process).exitCode, 0);
  const plain = launch(droplet, { command: probe, env: { ...env, POSTMORTEM_DISABLE: 'true' } });
  await plain.process;
  t.match(app.output(), /^fd 1 pipe:/m, 'stdout is a pipe');
  t.match(app.output(), /^fd 2 pipe:/m, 'stderr is a pipe');
  const fdsOf = (output: string) => /^fds: .*$/m.exec(output)?.[0];
  t.ok(fdsOf(plain.output()), 'the probe ran without us too');
  t.equal(fdsOf(app.output()), fdsOf(plain.output()), 'the same descriptors as without us');
  t.match(app.output(), /^vars: 0$/m);
  t.match(app.output(), /^zombies under the parent: 0$/m, 'the subshells that opened the pipes were waited for');
});

t.test('the crash watch is loaded after the app starts: a damaged one leaves the app serving under the watchdog, stops forwarded', async (t) => {
  const droplet = await stage({ appDir: healthyApp });
  const chunks = path.join(droplet.depsDir, droplet.depsIdx, 'postmortem/chunks');
  const watch = (await readdir(chunks)).find((f) => f.startsWith('after-spawn-'));
  if (!watch) throw new Error(`no after-spawn chunk in ${chunks}`);
  await writeFile(path.join(chunks, watch), 'this is not JavaScript (\n');
  const port = await freePort();
  const app = launch(droplet, { command: healthyCommand, port, env: fileStore(droplet) });
  await app.waitFor(/healthy app: listening/);
  await app.waitFor(/crash capture is off, the app runs on supervised only: the watch could not be loaded after the app started/);
  t.equal(await get(port), '200 ok\n', 'the app serves');
  t.match(await topProcess(app.pid), /node .*watchdog\.mjs -- bash -c java/, 'the watchdog stays the top process (the app was spawned before the failure)');
  process.kill(app.pid, 'SIGTERM');
  const result = await app.process;
  t.equal(result.exitCode, 143, 'the JVM got the SIGTERM; its status passed on');
});

t.test('a SIGTERM in the app\'s first moments (the watchdog still loading its watch) reaches the app', async (t) => {
  const droplet = await stage({ appDir: healthyApp });
  // The app's first act: SIGTERM to its parent, the watchdog, then wait for it to come back.
  const command = "trap 'echo app got TERM; exit 7' TERM; kill -TERM $PPID; echo app sent TERM; while :; do sleep 0.02; done";
  const sentAt = Date.now();
  const app = launch(droplet, { command, env: { ...fileStore(droplet), POSTMORTEM_GRACE: '60s' } });
  const result = await app.process;
  t.equal(result.exitCode, 7, 'the app\'s own status: it got the SIGTERM');
  t.match(app.output(), /app got TERM/);
  t.match(app.output(), /app stopped on request, exited with status 7/, 'the watch knows it was a stop');
  t.notMatch(app.output(), /holding this container/, 'no hold on a stop');
  t.ok(Date.now() - sentAt < 10_000, 'gone well before the platform\'s SIGKILL');
});
