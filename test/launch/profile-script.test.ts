// Sources the rendered profile.d script the way the launcher does (real bash, shared
// positional parameters) and checks what start command it leaves behind.
import t from 'tap';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { LAYOUT, renderProfileScript } from '../../src/launch/profile-script.ts';
import { tempDir } from '../support/temp.ts';

async function fakeDeps(options: { node?: 'ok' | 'missing' | 'fails-check' } = {}) {
  const depsDir = await tempDir('pm-deps-');
  const home = path.join(depsDir, '3');
  await mkdir(path.join(home, 'node/bin'), { recursive: true });
  await mkdir(path.join(home, 'postmortem'), { recursive: true });
  await writeFile(path.join(home, LAYOUT.watchdog), '// watchdog');
  // The check command runs on this "node": a script standing in for it (no real
  // runtime is needed to test the shell logic; the end-to-end tests use the real one).
  if (options.node !== 'missing') {
    const fails = options.node === 'fails-check';
    await writeFile(path.join(home, LAYOUT.node), `#!/bin/sh\n${fails ? 'echo "invalid settings: POSTMORTEM_GRACE is bad"; exit 1' : 'exit 0'}\n`);
    await chmod(path.join(home, LAYOUT.node), 0o755);
  }
  const script = path.join(depsDir, 'postmortem.sh');
  await writeFile(script, renderProfileScript({ depsIdx: '3', buildpackVersion: '0.0.0-test' }));
  return { depsDir, home, script };
}

/** Sources the script twice (deps profile.d + app .profile.d) and prints the resulting $2. */
async function source(script: string, env: Record<string, string>, argv0 = '/tmp/lifecycle/launcher', posix = false) {
  const body = `source "${script}"; source "${script}"; printf '%s\\n' "$2"`;
  const result = await execa('bash', [...(posix ? ['--posix'] : []), '-c', body, argv0, '/home/vcap/app', 'java -jar "my app.jar" --name=$X'], {
    env: { PATH: process.env.PATH!, ...env }, extendEnv: false, reject: false,
    stdin: 'ignore', // a socket on stdin makes bash source ~/.bashrc ("remote shell" rule)
  });
  return { command: result.stdout.trim().split('\n').pop() ?? '', stderr: result.stderr };
}

t.test('the real launch is rewritten to exec the watchdog with the original command intact', async (t) => {
  const { depsDir, home, script } = await fakeDeps();
  for (const posix of [false, true]) {
    const { command } = await source(script, { DEPS_DIR: depsDir, CF_INSTANCE_INDEX: '0' }, undefined, posix);
    t.ok(command.startsWith('exec env -u NODE_OPTIONS '), `posix=${posix}: ${command}`);
    t.match(command, `${path.join(home, LAYOUT.node)} --max-semi-space-size=1 ${path.join(home, LAYOUT.watchdog)} -- bash -c `);
    // Running the rewritten command's argument decoding must give back the original string.
    const decoded = await execa('bash', ['-c', `eval "set -- \$1"; printf '%s' "\${@: -1}"`, 'bash', command.replace(/^exec /, '')], { stdin: 'ignore' });
    t.equal(decoded.stdout, 'java -jar "my app.jar" --name=$X');
  }
});

t.test('not wrapped: cf ssh shell, tasks, already wrapped, disabled', async (t) => {
  const { depsDir, script } = await fakeDeps();
  const original = 'java -jar "my app.jar" --name=$X';
  t.equal((await source(script, { DEPS_DIR: depsDir, CF_INSTANCE_INDEX: '0' }, '/tmp/lifecycle/shell')).command, original, 'lifecycle shell');
  t.equal((await source(script, { DEPS_DIR: depsDir })).command, original, 'task (no CF_INSTANCE_INDEX)');
  t.equal((await source(script, { DEPS_DIR: depsDir, CF_INSTANCE_INDEX: '0', POSTMORTEM_WRAPPED: '1' })).command, original, 'already wrapped');
  const disabled = await source(script, { DEPS_DIR: depsDir, CF_INSTANCE_INDEX: '0', POSTMORTEM_DISABLE: 'true' });
  t.equal(disabled.command, original, 'disabled');
  t.match(disabled.stderr, /disabled by POSTMORTEM_DISABLE/);
  t.match((await source(script, { DEPS_DIR: depsDir, POSTMORTEM_TASKS: 'true' })).command, /^exec .*watchdog/, 'tasks when asked');
  // The script reads booleans with the watchdog's words (settings.ts), not only `true`.
  for (const word of ['yes', 'YES', '1', 'True']) {
    t.match((await source(script, { DEPS_DIR: depsDir, POSTMORTEM_TASKS: word })).command, /^exec .*watchdog/, `POSTMORTEM_TASKS=${word} wraps tasks`);
  }
  for (const word of ['no', '0', 'false']) {
    t.equal((await source(script, { DEPS_DIR: depsDir, POSTMORTEM_TASKS: word })).command, original, `POSTMORTEM_TASKS=${word} leaves tasks alone`);
  }
});

t.test('fail open: missing runtime or broken settings leave the command alone with one warning line', async (t) => {
  const original = 'java -jar "my app.jar" --name=$X';
  const missing = await fakeDeps({ node: 'missing' });
  const a = await source(missing.script, { DEPS_DIR: missing.depsDir, CF_INSTANCE_INDEX: '0' });
  t.equal(a.command, original);
  t.equal(a.stderr.trim().split('\n').length, 1);
  t.match(a.stderr, /WARNING: runtime or watchdog missing/);
  const broken = await fakeDeps({ node: 'fails-check' });
  const b = await source(broken.script, { DEPS_DIR: broken.depsDir, CF_INSTANCE_INDEX: '0' });
  t.equal(b.command, original);
  t.equal(b.stderr.trim().split('\n').length, 1);
  t.match(b.stderr, /WARNING: invalid settings: POSTMORTEM_GRACE is bad/);
});

t.test('an exec in the app .profile after our script still works (exec is not shadowed)', async (t) => {
  const { depsDir, script } = await fakeDeps();
  const dir = await tempDir('pm-exec-');
  const r = await execa('bash', ['-c', `source "${script}"; exec 3>"${dir}/fd3"; echo ok >&3; type -t exec`, '/tmp/lifecycle/launcher', '/app', 'cmd'], {
    env: { PATH: process.env.PATH!, DEPS_DIR: depsDir, CF_INSTANCE_INDEX: '0' }, extendEnv: false, stdin: 'ignore',
  });
  t.equal(r.stdout.trim(), 'builtin');
});

t.test('rejects a non-numeric deps index', async (t) => {
  t.throws(() => renderProfileScript({ depsIdx: '../x', buildpackVersion: '1' }));
});

t.test('the check\'s memory line: MEMORY_LIMIT exported for the app, the container\'s kept; anything odd ignored', async (t) => {
  const { depsDir, home, script } = await fakeDeps();
  // The stand-in "node" prints what the real check prints (test/config/memory-limit.test.ts
  // covers the values; the end-to-end test memory-limit.test.ts the whole path).
  const says = async (lines: string) => {
    await writeFile(path.join(home, LAYOUT.node), `#!/bin/sh\nprintf '%s\\n' ${lines}\n`);
    const body = `source "${script}"; printf 'app=%s container=%s\\n' "$MEMORY_LIMIT" "\${POSTMORTEM_CONTAINER_MEMORY_LIMIT-unset}"`;
    const r = await execa('bash', ['-c', body, '/tmp/lifecycle/launcher', '/home/vcap/app', 'java'], {
      env: { PATH: process.env.PATH!, DEPS_DIR: depsDir, CF_INSTANCE_INDEX: '0', MEMORY_LIMIT: '1024m' }, extendEnv: false, stdin: 'ignore',
    });
    return { out: r.stdout.trim(), err: r.stderr };
  };
  const ok = await says(`'[postmortem] the app'"'"'s MEMORY_LIMIT is 928m: …' 'POSTMORTEM_APP_MEMORY_LIMIT=928m'`);
  t.equal(ok.out, 'app=928m container=1024m');
  t.match(ok.err, /MEMORY_LIMIT is 928m/, 'the message is shown');
  t.notMatch(ok.err, /POSTMORTEM_APP_MEMORY_LIMIT/, 'the hand-over line is not');
  for (const odd of ['POSTMORTEM_APP_MEMORY_LIMIT=928m\\;x', 'POSTMORTEM_APP_MEMORY_LIMIT=lots', 'POSTMORTEM_APP_MEMORY_LIMIT=0m', 'POSTMORTEM_APP_MEMORY_LIMIT=9m9']) {
    t.equal((await says(`'${odd}'`)).out, 'app=1024m container=unset', `${odd}: left alone`);
  }
  t.equal((await says(`'[postmortem] nothing to say'`)).out, 'app=1024m container=unset', 'no line: left alone');
});
