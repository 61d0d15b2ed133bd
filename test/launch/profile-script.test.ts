// Sources the rendered profile.d script the way the launcher does (real bash, shared
// positional parameters) and checks what start command it leaves behind.
import t from 'tap';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { LAYOUT, NODE_FLAGS, renderProfileScript } from '../../src/launch/profile-script.ts';
import { tempDir } from '../support/temp.ts';

/**
 * A deps folder whose "node" is a stand-in: a script printing its arguments and what it got
 * of the environment (no real runtime is needed to test the shell logic; the end-to-end
 * tests use the real one), or a binary the kernel refuses to run.
 */
async function fakeDeps(options: { node?: 'ok' | 'missing' | 'refused' } = {}) {
  const depsDir = await tempDir('pm-deps-');
  const home = path.join(depsDir, '3');
  await mkdir(path.join(home, 'node/bin'), { recursive: true });
  await mkdir(path.join(home, 'postmortem'), { recursive: true });
  await writeFile(path.join(home, LAYOUT.watchdog), '// watchdog');
  if (options.node === 'ok' || options.node === undefined) {
    await writeFile(path.join(home, LAYOUT.node), `#!/bin/bash\necho "node NODE_OPTIONS=\${NODE_OPTIONS-unset} saved=\${POSTMORTEM_APP_NODE_OPTIONS-unset} had=\${POSTMORTEM_APP_HAD_NODE_OPTIONS-unset}"\nfor fd in \${POSTMORTEM_OUTPUT_FDS//,/ }; do echo "output fd $fd: $(readlink /proc/$$/fd/$fd)"; done\nprintf 'arg=%s\\n' "$@"\n`);
  } else if (options.node === 'refused') {
    // An ELF header the kernel cannot load (Exec format error), like a runtime for another machine.
    await writeFile(path.join(home, LAYOUT.node), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0]));
  }
  if (options.node !== 'missing') await chmod(path.join(home, LAYOUT.node), 0o755);
  const script = path.join(depsDir, 'postmortem.sh');
  await writeFile(script, renderProfileScript({ depsIdx: '3', buildpackVersion: '0.0.0-test' }));
  return { depsDir, home, script };
}

const ORIGINAL = 'echo "app NODE_OPTIONS=${NODE_OPTIONS-unset} MEMORY_LIMIT=$MEMORY_LIMIT"; echo "my app.jar" --name=$X';

/** The launcher's whole sequence with the script sourced twice; the command's output and the launcher shell's leftovers. */
async function launch(script: string, env: Record<string, string>, probe = '') {
  // The test runner adds its own --import to NODE_OPTIONS of every child: the app's is set in the shell.
  const { NODE_OPTIONS: nodeOptions, ...rest } = env;
  const body = `unset NODE_OPTIONS; [ -n "\${PM_HAS+x}" ] && export NODE_OPTIONS="$PM_HAS"; unset PM_HAS; [ -f "${script}" ] && source "${script}" && source "${script}"; declare -F | grep __pm >&2; set | grep '^__pm' >&2; shift; exec bash -c "$@"`;
  const r = await execa('bash', ['-c', body, '/tmp/lifecycle/launcher', '/home/vcap/app', probe ? `${ORIGINAL}; ${probe}` : ORIGINAL], {
    env: { PATH: process.env.PATH!, ...rest, ...(nodeOptions !== undefined ? { PM_HAS: nodeOptions } : {}) }, extendEnv: false, reject: false, stdin: 'ignore',
  });
  return { out: r.stdout, err: r.stderr, exitCode: r.exitCode };
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
    t.match(command, `exec ${path.join(home, LAYOUT.node)} ${NODE_FLAGS} ${path.join(home, LAYOUT.watchdog)} -- bash -c `, `posix=${posix}`);
  }
  // Run it: the stand-in node gets the watchdog, `--` and the original command as one argument.
  const r = await launch(script, { DEPS_DIR: depsDir, CF_INSTANCE_INDEX: '0' });
  t.same(r.out.split('\n').filter((l) => l.startsWith('arg=')), [...NODE_FLAGS.split(' ').map((f) => `arg=${f}`), `arg=${path.join(home, LAYOUT.watchdog)}`, 'arg=--', 'arg=bash', 'arg=-c', `arg=${ORIGINAL.split('\n')[0]}`]);
  t.equal(r.err, '', 'no functions or variables of ours are left in the launcher\'s shell, nothing printed');
  // Two pipes for the app's output (src/watchdog/output-pipes.ts), above the descriptors an app may use itself.
  const outputs = r.out.split('\n').filter((l) => l.startsWith('output fd '));
  t.equal(outputs.length, 2, r.out);
  for (const line of outputs) t.match(line, /^output fd (\d{2,}): pipe:\[\d+\]$/);
});

t.test('NODE_OPTIONS: set aside when the start command runs, for the watchdog to hand back', async (t) => {
  const { depsDir, script } = await fakeDeps();
  const set = await launch(script, { DEPS_DIR: depsDir, CF_INSTANCE_INDEX: '0', NODE_OPTIONS: '--require /agent.js' });
  t.match(set.out, /^node NODE_OPTIONS=unset saved=--require \/agent\.js had=1$/m);
  const empty = await launch(script, { DEPS_DIR: depsDir, CF_INSTANCE_INDEX: '0', NODE_OPTIONS: '' });
  t.match(empty.out, /^node NODE_OPTIONS=unset saved= had=1$/m, 'set but empty is told from unset');
  const unset = await launch(script, { DEPS_DIR: depsDir, CF_INSTANCE_INDEX: '0' });
  t.match(unset.out, /^node NODE_OPTIONS=unset saved= had=$/m);
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
  t.match((await source(script, { DEPS_DIR: depsDir, POSTMORTEM_TASKS: 'true' })).command, /; exec .*watchdog/, 'tasks when asked');
  // The script reads booleans with the watchdog's words (settings.ts), not only `true`.
  for (const word of ['yes', 'YES', '1', 'True']) {
    t.match((await source(script, { DEPS_DIR: depsDir, POSTMORTEM_TASKS: word })).command, /; exec .*watchdog/, `POSTMORTEM_TASKS=${word} wraps tasks`);
  }
  for (const word of ['no', '0', 'false']) {
    t.equal((await source(script, { DEPS_DIR: depsDir, POSTMORTEM_TASKS: word })).command, original, `POSTMORTEM_TASKS=${word} leaves tasks alone`);
  }
});

t.test('fail open: a missing runtime leaves the command alone, one a kernel refuses runs it unwrapped; one warning line', async (t) => {
  const original = 'java -jar "my app.jar" --name=$X';
  const missing = await fakeDeps({ node: 'missing' });
  const a = await source(missing.script, { DEPS_DIR: missing.depsDir, CF_INSTANCE_INDEX: '0' });
  t.equal(a.command, original);
  t.equal(a.stderr.trim().split('\n').length, 1);
  t.match(a.stderr, /WARNING: runtime or watchdog missing/);
  const refused = await fakeDeps({ node: 'refused' });
  const env = { DEPS_DIR: refused.depsDir, CF_INSTANCE_INDEX: '0', MEMORY_LIMIT: '1024m' };
  for (const extra of [{ NODE_OPTIONS: '--require /agent.js' }, {}] as Record<string, string>[]) {
    // Globbed by the shell itself: no command substitution's own descriptors in the listing.
    const probe = 'f=(/proc/$$/fd/*); echo "fds: \${f[*]##*/} vars: \${POSTMORTEM_OUTPUT_FDS-none}"';
    const b = await launch(refused.script, { ...env, ...extra }, probe);
    t.equal(b.exitCode, 0);
    // The same probe without the buildpack: the same descriptors (none of our pipes) and variables.
    const plain = await launch(path.join(refused.depsDir, 'absent.sh'), { ...env, ...extra }, probe);
    t.match(plain.out, /^fds: 0 1 2\b.* vars: none$/m);
    t.equal(b.out, `app NODE_OPTIONS=${extra.NODE_OPTIONS ?? 'unset'} MEMORY_LIMIT=1024m\nmy app.jar --name=\n${/^fds: .*$/m.exec(plain.out)?.[0]}`, `${JSON.stringify(extra)}: the app ran with its own NODE_OPTIONS and the container's MEMORY_LIMIT`);
    const ours = b.err.split('\n').filter((l) => l.startsWith('[postmortem]'));
    t.same(ours, ['[postmortem] WARNING: the runtime of the crash watchdog does not run here (restage the app); the app runs without crash capture'], `one line of ours (bash adds its own: ${JSON.stringify(b.err)})`);
  }
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

t.test('MEMORY_LIMIT: the app\'s share exported for later profile.d scripts and the start command, the container\'s kept', async (t) => {
  // The values are the rule's (memory-share.test.ts holds shell and TypeScript equal); here: what is exported.
  const { depsDir, script } = await fakeDeps();
  const seen = async (env: Record<string, string>) => {
    const body = `source "${script}"; printf 'app=%s container=%s\\n' "$MEMORY_LIMIT" "\${POSTMORTEM_CONTAINER_MEMORY_LIMIT-unset}"`;
    const r = await execa('bash', ['-c', body, '/tmp/lifecycle/launcher', '/home/vcap/app', 'java'], {
      env: { PATH: process.env.PATH!, DEPS_DIR: depsDir, CF_INSTANCE_INDEX: '0', ...env }, extendEnv: false, stdin: 'ignore',
    });
    t.equal(r.stderr.replace(/^.*disabled by POSTMORTEM_DISABLE.*$/m, ''), '', 'nothing printed (the watchdog says it)');
    return r.stdout.trim();
  };
  t.equal(await seen({ MEMORY_LIMIT: '1024m' }), 'app=880m container=1024m');
  t.equal(await seen({ MEMORY_LIMIT: '1G', POSTMORTEM_MEMORY_RESERVE: '200M' }), 'app=824m container=1G');
  t.equal(await seen({ MEMORY_LIMIT: '1024m', POSTMORTEM_MEMORY_RESERVE: 'lots' }), 'app=1024m container=unset', 'a reserve not understood: left alone (the watchdog names the setting)');
  t.equal(await seen({ MEMORY_LIMIT: '128m' }), 'app=128m container=unset', 'too small a container: left alone');
  t.equal(await seen({ MEMORY_LIMIT: '1024m', POSTMORTEM_DISABLE: 'true' }), 'app=1024m container=unset', 'disabled: left alone');
});
