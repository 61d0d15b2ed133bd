// bin/supply, bin/detect and bin/release run as the builder runs them (real bash, real
// tar, the real cached runtime); every staging problem must warn and never fail the push.
import t from 'tap';
import { cp, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { parse } from 'yaml';
import { BUILDPACK_DIR } from '../support/cf.ts';
import { tempDir } from '../support/temp.ts';

async function dirs() {
  const root = await tempDir('pm-stage-');
  const d = { build: path.join(root, 'app'), cache: path.join(root, 'cache'), deps: path.join(root, 'deps') };
  for (const p of Object.values(d)) await mkdir(p, { recursive: true });
  await mkdir(path.join(d.deps, '1'));
  return d;
}

function supply(bp: string, d: Awaited<ReturnType<typeof dirs>>, env: Record<string, string> = {}) {
  return execa(path.join(bp, 'bin/supply'), [d.build, d.cache, d.deps, '1'], {
    env: { PATH: process.env.PATH!, ...env }, extendEnv: false, reject: false, all: true, stdin: 'ignore',
  });
}

const manifest = parse(await readFile(path.join(BUILDPACK_DIR, 'manifest.yml'), 'utf8'));
const nodeDep = manifest.dependencies.find((d: { name: string }) => d.name === 'node');

t.test('installs the pinned runtime from the cached dependency, the watchdog, config.yml and the profile.d script', async (t) => {
  const d = await dirs();
  const r = await supply(BUILDPACK_DIR, d, { PATH: '/usr/bin:/bin' });
  t.equal(r.exitCode, 0);
  t.match(r.all, /-----> Postmortem Buildpack version \d+\.\d+\.\d+/);
  t.match(r.all, new RegExp(`Node\\.js v${nodeDep.version.replace(/\./g, '\\.')} \\(cached dependency\\)`));
  const home = path.join(d.deps, '1');
  const version = await execa(path.join(home, 'node/bin/node'), ['--version']);
  t.equal(version.stdout, `v${nodeDep.version}`, 'a real, runnable Node binary');
  t.same(parse(await readFile(path.join(home, 'config.yml'), 'utf8')), { name: 'postmortem', version: (await readFile(path.join(BUILDPACK_DIR, 'VERSION'), 'utf8')).trim(), config: {} });
  for (const f of ['postmortem/watchdog.mjs', 'postmortem/check.mjs', 'postmortem/cli.mjs', 'postmortem/VERSION']) t.ok(await stat(path.join(home, f)), f);
  t.ok(((await stat(path.join(home, 'bin/postmortem'))).mode & 0o111) !== 0, 'CLI shim executable');
  const script = await readFile(path.join(home, 'profile.d/postmortem.sh'), 'utf8');
  t.equal(await readFile(path.join(d.build, '.profile.d/000_postmortem.sh'), 'utf8'), script, 'same script in the app .profile.d');
  t.match(script, /\$\{DEPS_DIR:-\/home\/vcap\/deps\}\/1/);
  t.notMatch(script, new RegExp(d.deps), 'no staging path in the script');
  const cli = await execa(path.join(home, 'bin/postmortem'), ['--help'], { reject: false });
  t.match(cli.stdout, /usage: postmortem/, 'the installed CLI runs on the installed runtime');
});

t.test('a tampered cached runtime is deleted before it ever runs; staging falls back with warnings', async (t) => {
  const bp = await tempDir('pm-bp-');
  for (const f of ['bin', 'lib', 'VERSION']) await symlink(path.join(BUILDPACK_DIR, f), path.join(bp, f));
  await writeFile(path.join(bp, 'manifest.yml'), await readFile(path.join(BUILDPACK_DIR, 'manifest.yml')));
  await mkdir(path.join(bp, 'dependencies'));
  await cp(path.join(BUILDPACK_DIR, 'dependencies', nodeDep.file), path.join(bp, 'dependencies', nodeDep.file));
  await writeFile(path.join(bp, 'dependencies', nodeDep.file), 'tampered', { flag: 'a' });
  const d = await dirs();
  const r = await supply(bp, d);
  t.equal(r.exitCode, 0, 'push not failed');
  t.match(r.all, new RegExp(`\\*\\*WARNING\\*\\* postmortem: ${nodeDep.file.replace(/\./g, '\\.')} does not match the sha256 in manifest\\.yml and was deleted`));
  await t.rejects(stat(path.join(bp, 'dependencies', nodeDep.file)), 'mismatching file deleted');
  // Without the cached runtime, the staging machine's node is the only one left (warned).
  t.match(r.all, /\*\*WARNING\*\* no cached Node\.js runtime in this buildpack; copying the staging machine's node/);
  t.match(r.all, /Node\.js v\d+\.\d+\.\d+ \(staging node\)/);
});

t.test('configuration mistakes warn at staging; POSTMORTEM_STRICT=true fails the push', async (t) => {
  const d = await dirs();
  const r = await supply(BUILDPACK_DIR, d, { POSTMORTEM_STORE: 's3://', POSTMORTEM_GRACE: 'forever' });
  t.equal(r.exitCode, 0);
  t.match(r.all, /\*\*WARNING\*\* crash capture settings are invalid; the app will run WITHOUT crash capture until fixed:/);
  t.match(r.all, /POSTMORTEM_GRACE/);
  t.match(r.all, /POSTMORTEM_STORE/);
  const strict = await supply(BUILDPACK_DIR, await dirs(), { POSTMORTEM_GRACE: 'forever', POSTMORTEM_STRICT: 'true' });
  t.not(strict.exitCode, 0);
  t.match(strict.all, /\*\*ERROR\*\*/);
});

t.test('no Node.js anywhere: one warning, the push goes on', async (t) => {
  const bp = await tempDir('pm-bp-');
  for (const f of ['bin', 'lib', 'VERSION', 'manifest.yml']) await symlink(path.join(BUILDPACK_DIR, f), path.join(bp, f));
  // A PATH with the shell tools a stack has, and no node.
  const tools = path.join(bp, 'tools');
  await mkdir(tools);
  for (const tool of ['bash', 'dirname', 'ls', 'head', 'tar', 'mktemp', 'rm', 'cat']) {
    const found = (await execa('bash', ['-c', `command -v ${tool}`])).stdout.trim();
    await symlink(found, path.join(tools, tool));
  }
  const d = await dirs();
  const r = await supply(bp, d, { PATH: tools });
  t.equal(r.exitCode, 0);
  t.match(r.all, /\*\*WARNING\*\* postmortem: no Node\.js to run staging/);
});

t.test('detect never claims an app; release names no default process', async (t) => {
  const d = await dirs();
  t.equal((await execa(path.join(BUILDPACK_DIR, 'bin/detect'), [d.build], { reject: false })).exitCode, 1);
  const release = await execa(path.join(BUILDPACK_DIR, 'bin/release'), [d.build]);
  t.same(parse(release.stdout), { default_process_types: {} });
});
