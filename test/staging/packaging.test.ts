// Every way a platform installs this buildpack, tested the way it is used: the zips that
// `npm run package` builds (unpacked into fresh folders, as the platform does), a git archive
// of HEAD (a git-URL buildpack), and a droplet where an earlier buildpack left a Node.js.
// The runtime's download is served by a loopback HTTP server standing in for the manifest's
// uri (POSTMORTEM_TEST_RUNTIME_URI, a test-only knob); the cached zip stages with no network
// at all (unshare -n: a network namespace with nothing in it).
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, cp, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { parse } from 'yaml';
import { BUILDPACK_DIR, launch, stage, type Droplet } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { freePort } from '../support/ports.ts';
import { CACHE_SUBDIR, extractRuntime, nodeDependency, runtimeTarball } from '../support/runtime.ts';
import { tempDir } from '../support/temp.ts';
import { testStore } from '../support/test-store.ts';

const dep = await nodeDependency();
const version = (await readFile(path.join(BUILDPACK_DIR, 'VERSION'), 'utf8')).trim();
const work = await tempDir('pm-packaging-');
const out = path.join(work, 'build');
const built = await execa('node', ['scripts/package.mjs', '--out', out], { cwd: BUILDPACK_DIR, all: true });
const zips = { uncached: path.join(out, `postmortem_buildpack-v${version}.zip`), cached: path.join(out, `postmortem_buildpack-cached-v${version}.zip`) };

async function unpack(zip: string): Promise<string> {
  const dir = path.join(await tempDir('pm-bp-'), 'buildpack');
  await execa('unzip', ['-q', zip, '-d', dir]);
  return dir;
}

async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

/** A loopback HTTP server standing in for the manifest's uri; counts the downloads. */
async function runtimeServer(body: () => NodeJS.ReadableStream) {
  let requests = 0;
  const server = http.createServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    body().pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `http://127.0.0.1:${port}/${path.posix.basename(dep.uri)}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const plainApp = async () => {
  const dir = await tempDir('pm-plain-app-');
  await writeFile(path.join(dir, 'run.sh'), 'echo "plain app: ran"\n');
  return dir;
};

/** The app starts and runs as if we were not there: no watchdog, its own output and status. */
async function runsWithoutUs(t: Test, droplet: Droplet) {
  const app = launch(droplet, { command: 'bash run.sh; exit 3' });
  const result = await app.process;
  t.equal(result.exitCode, 3, 'the app\'s own status');
  t.match(app.output(), 'plain app: ran');
  t.notMatch(app.output(), /postmortem|watchdog/, 'nothing of ours at launch');
}

t.test('npm run package: both zips, laid out as the Cloud Foundry packager lays them out', async (t) => {
  t.match(built.all, 'pre_package: include_files lists all');
  t.match(built.all, /postmortem_buildpack-v[\d.]+\.zip: [\d.]+ MiB/, 'uncached size printed');
  t.match(built.all, /postmortem_buildpack-cached-v[\d.]+\.zip: [\d.]+ MiB/, 'cached size printed');
  const manifest = parse(await readFile(path.join(BUILDPACK_DIR, 'manifest.yml'), 'utf8'));
  const listed = [...manifest.include_files].sort();
  t.ok(listed.every((f: string) => !/[*?[]/.test(f)), 'include_files is a literal list');
  t.ok(((await stat(path.join(BUILDPACK_DIR, manifest.pre_package))).mode & 0o111) !== 0, 'pre_package is executable');
  t.match(dep.uri, /^https:\/\//, 'uri is a real https URL');
  t.match(manifest.dependency_deprecation_dates[0], { name: 'node', version_line: `${dep.version.split('.')[0]}.x.x`, link: /^https:\/\// });

  for (const [kind, zip] of Object.entries(zips)) {
    const sum = createHash('sha256').update(await readFile(zip)).digest('hex');
    t.equal(await readFile(`${zip}.sha256`, 'utf8'), `${sum}  ${path.basename(zip)}\n`, `${kind}: sha256 line`);
  }
  const uncached = await unpack(zips.uncached);
  t.same(await filesBelow(uncached), listed, 'uncached zip: exactly include_files');
  for (const bin of ['detect', 'supply', 'finalize', 'release', 'postmortem']) {
    t.ok(((await stat(path.join(uncached, 'bin', bin))).mode & 0o111) !== 0, `bin/${bin} executable in the zip`);
  }
  const cached = await unpack(zips.cached);
  const carried = parse(await readFile(path.join(cached, 'manifest.yml'), 'utf8')).dependencies[0];
  const md5 = createHash('md5').update(dep.uri).digest('hex');
  t.equal(carried.file, `dependencies/${md5}/node`, 'file: under dependencies/<md5 of uri>/');
  t.equal(carried.sha256, dep.sha256, 'sha256 still means the file at uri');
  t.same(await filesBelow(cached), [...listed, carried.file].sort(), 'cached zip: include_files plus the runtime');
  const binary = await readFile(path.join(cached, carried.file));
  t.equal(createHash('sha256').update(binary).digest('hex'), carried.file_sha256, 'file_sha256 is the carried binary\'s');
  const fromTarball = await readFile(await extractRuntime(work));
  t.ok(binary.equals(fromTarball), 'the carried binary is package/bin/node of the tarball at uri');
});

t.test('include_files drifting from the files that ship fails the packaging', async (t) => {
  const copy = await tempDir('pm-drift-');
  for (const f of ['bin', 'lib', 'scripts', 'manifest.yml', 'VERSION', 'README.md', 'LICENSE', 'CHANGELOG.md']) await cp(path.join(BUILDPACK_DIR, f), path.join(copy, f), { recursive: true });
  t.equal((await execa(path.join(copy, 'scripts/pre-package'), { reject: false })).exitCode, 0, 'in step as committed');
  await writeFile(path.join(copy, 'lib/chunks/new-bundle.mjs'), 'export {};\n');
  const added = await execa(path.join(copy, 'scripts/pre-package'), { reject: false, all: true });
  t.equal(added.exitCode, 1);
  t.match(added.all, /left out of the buildpack \(not in include_files\):\n\s+lib\/chunks\/new-bundle\.mjs/);
  t.match(added.all, 'npm run build');
  await execa('rm', [path.join(copy, 'lib/chunks/new-bundle.mjs'), path.join(copy, 'lib/hprof-worker.mjs')]);
  const removed = await execa(path.join(copy, 'scripts/pre-package'), { reject: false, all: true });
  t.equal(removed.exitCode, 1);
  t.match(removed.all, 'include_files lists lib/hprof-worker.mjs, which does not exist');
});

t.test('cached zip, no network at staging: the sample Java app runs out of heap and its dump lands in the store', async (t) => {
  const store = await testStore(t, 'packaged');
  const buildpackDir = await unpack(zips.cached);
  const noNetwork = await execa('unshare', ['-n', 'curl', '-sS', '--max-time', '5', 'https://registry.npmjs.org/'], { reject: false, all: true });
  t.not(noNetwork.exitCode, 0, `unshare -n really has no network (${noNetwork.all.trim()})`);
  const droplet = await stage({ appDir: await javaApp('Oom'), env: store.env('cached'), buildpackDir, supplyPrefix: ['unshare', '-n'] });
  t.match(droplet.stagingOutput, `Node.js v${dep.version}: carried by the cached buildpack zip, sha256 verified`);
  t.notMatch(droplet.stagingOutput, /\*\*WARNING\*\*|Downloading/, 'no warnings, no download');
  const app = launch(droplet, { command: 'java -Xmx32m -XX:-UsePerfData -cp . Oom', env: { ...store.env('cached'), POSTMORTEM_GRACE: '0s' } });
  const result = await app.process;
  t.equal(result.exitCode, 1, 'the JVM\'s status');
  t.match(app.output(), /\[postmortem\] stored heap\.hprof/);
  const listing = await store.client.send(new ListObjectsV2Command({ Bucket: store.bucket, Prefix: 'cached/' }));
  const keys = (listing.Contents ?? []).map((o) => o.Key!);
  t.ok(keys.some((k) => /\/heap\.hprof(\.gz)?$/.test(k)), `heap dump in the store (${keys.join(', ')})`);
});

t.test('cached zip with a damaged runtime: never run, the push goes on without capture', async (t) => {
  const buildpackDir = await unpack(zips.cached);
  const carried = parse(await readFile(path.join(buildpackDir, 'manifest.yml'), 'utf8')).dependencies[0];
  await writeFile(path.join(buildpackDir, carried.file), 'damaged', { flag: 'a' });
  const droplet = await stage({ appDir: await plainApp(), buildpackDir, supplyPrefix: ['unshare', '-n'] });
  t.match(droplet.stagingOutput, `**WARNING** postmortem: ${carried.file} in the buildpack does not match its sha256 in manifest.yml; not used (rebuild the buildpack zip)`);
  t.match(droplet.stagingOutput, /\*\*WARNING\*\* postmortem: could not download Node\.js [\d.]+ from https:\/\/registry\.npmjs\.org\/\S+: \(6\) Could not resolve host/);
  t.same(await readdir(path.join(droplet.depsDir, '0')), [], 'nothing of ours in the droplet');
  await runsWithoutUs(t, droplet);
});

t.test('a cached zip as the community packager builds it (the tarball itself, its manifest rewritten by go-yaml) stages offline too', async (t) => {
  const buildpackDir = await unpack(zips.uncached);
  const md5 = createHash('md5').update(dep.uri).digest('hex');
  const file = `dependencies/${md5}/${path.posix.basename(dep.uri)}`;
  await mkdir(path.join(buildpackDir, path.dirname(file)), { recursive: true });
  await cp(await runtimeTarball(), path.join(buildpackDir, file));
  // go-yaml's layout: keys sorted, sequences not indented, the item's first key on the dash line.
  const manifest = await readFile(path.join(buildpackDir, 'manifest.yml'), 'utf8');
  const rewritten = manifest.replace(/^dependencies:\n[\s\S]*?(?=^dependency_deprecation_dates:)/m, [
    'dependencies:', '- cf_stacks:', '  - cflinuxfs4', '  - cflinuxfs5', `  file: ${file}`, '  name: node',
    `  sha256: ${dep.sha256}`, `  source: ${dep.uri}`, `  source_sha256: ${dep.sha256}`, `  uri: ${dep.uri}`, `  version: ${dep.version}`, '',
  ].join('\n'));
  t.not(rewritten, manifest, 'manifest rewritten');
  await writeFile(path.join(buildpackDir, 'manifest.yml'), rewritten);
  const droplet = await stage({ appDir: await plainApp(), buildpackDir, supplyPrefix: ['unshare', '-n'] });
  t.match(droplet.stagingOutput, `Node.js v${dep.version}: carried by the cached buildpack zip, sha256 verified`);
  t.notMatch(droplet.stagingOutput, /\*\*WARNING\*\* postmortem|Downloading/);
});

/** The uncached path, shared by the uncached zip and a git archive of HEAD. */
async function downloadsAtStaging(t: Test, buildpackDir: string) {
  const tarball = await runtimeTarball();
  const server = await runtimeServer(() => createReadStream(tarball));
  const cacheDir = path.join(await tempDir('pm-cache-'), 'cache');
  await mkdir(cacheDir);
  const app = await plainApp();
  try {
    const first = await stage({ appDir: app, buildpackDir, cacheDir, env: { POSTMORTEM_TEST_RUNTIME_URI: server.uri } });
    t.match(first.stagingOutput, `Downloading Node.js ${dep.version} from ${server.uri}`);
    t.match(first.stagingOutput, `Node.js v${dep.version}: downloaded from ${server.uri}, sha256 verified, kept in the staging cache for the next staging`);
    t.equal(server.requests(), 1, 'downloaded once');
    const kept = path.join(cacheDir, CACHE_SUBDIR, path.posix.basename(dep.uri));
    t.equal(createHash('sha256').update(await readFile(kept)).digest('hex'), dep.sha256, 'the verified tarball is in CACHE_DIR');
    t.equal((await execa(path.join(first.depsDir, '0/node/bin/node'), ['--version'])).stdout, `v${dep.version}`);
  } finally {
    await server.close();
  }
  // The next staging of the same app: the cache, no server.
  const second = await stage({ appDir: app, buildpackDir, cacheDir, env: { POSTMORTEM_TEST_RUNTIME_URI: server.uri } });
  t.match(second.stagingOutput, `Node.js v${dep.version}: Node.js ${dep.version} from the staging cache`);
  t.notMatch(second.stagingOutput, /Downloading|\*\*WARNING\*\* postmortem/);
  const app2 = launch(second, { command: 'bash run.sh; exit 3', env: { POSTMORTEM_STORE: `file://${path.join(second.home, 'dumps')}`, POSTMORTEM_GRACE: '0s' } });
  t.equal((await app2.process).exitCode, 3);
  t.match(app2.output(), /watchdog|\[postmortem\]/, 'the watchdog ran the app');

  // A server handing out another file: refused, the app staged without capture.
  const wrong = await runtimeServer(() => createReadStream(path.join(buildpackDir, 'manifest.yml')));
  try {
    const refused = await stage({ appDir: app, buildpackDir, env: { POSTMORTEM_TEST_RUNTIME_URI: wrong.uri } });
    t.match(refused.stagingOutput, new RegExp(`\\*\\*WARNING\\*\\* postmortem: the file downloaded from ${wrong.uri.replace(/\./g, '\\.')} has sha256 [0-9a-f]{64}, but manifest\\.yml pins ${dep.sha256} for Node\\.js ${dep.version.replace(/\./g, '\\.')}; refused`));
    t.match(refused.stagingOutput, 'Fix: use the cached buildpack zip');
    t.match(refused.stagingOutput, 'The app will run WITHOUT crash capture');
    t.same(await readdir(path.join(refused.depsDir, '0')), [], 'nothing of ours in the droplet');
    await runsWithoutUs(t, refused);
  } finally {
    await wrong.close();
  }
  // The server down: the same, with curl's reason.
  const down = await stage({ appDir: app, buildpackDir, env: { POSTMORTEM_TEST_RUNTIME_URI: `http://127.0.0.1:${await freePort()}/node.tgz` } });
  t.match(down.stagingOutput, /\*\*WARNING\*\* postmortem: could not download Node\.js [\d.]+ from http:\/\/127\.0\.0\.1:\d+\/node\.tgz: \(7\) Failed to connect/);
  t.match(down.stagingOutput, 'or allow egress to registry.npmjs.org from staging');
  await runsWithoutUs(t, down);
}

t.test('uncached zip: the runtime is downloaded, checked, cached; a wrong file or no server leaves the app alone', async (t) => {
  await downloadsAtStaging(t, await unpack(zips.uncached));
});

t.test('git archive of HEAD (a git-URL buildpack): behaves as the uncached zip', async (t) => {
  const dir = path.join(await tempDir('pm-git-'), 'buildpack');
  await mkdir(dir);
  await execa('bash', ['-c', 'git -C "$1" archive HEAD | tar -x -C "$2"', 'archive', BUILDPACK_DIR, dir]);
  await t.rejects(stat(path.join(dir, 'node_modules')), 'no node_modules');
  await t.rejects(stat(path.join(dir, 'dependencies')), 'no dependencies/');
  await downloadsAtStaging(t, dir);
});

t.test('an earlier buildpack left a Node.js in the droplet: reused, the droplet grows by less than 2 MB', async (t) => {
  const node = await extractRuntime(work);
  // The nodejs buildpack's layout: deps/<idx>/node is the runtime, deps/<idx>/bin links into it.
  const earlier = async (depsDir: string) => {
    await mkdir(path.join(depsDir, '0/node/bin'), { recursive: true });
    await mkdir(path.join(depsDir, '0/bin'));
    await cp(node, path.join(depsDir, '0/node/bin/node'));
    await chmod(path.join(depsDir, '0/node/bin/node'), 0o755);
    await symlink('../node/bin/node', path.join(depsDir, '0/bin/node'));
  };
  const droplet = await stage({ appDir: await plainApp(), depsIdx: '1', beforeSupply: earlier, env: { POSTMORTEM_TEST_RUNTIME_URI: 'http://127.0.0.1:9/never-used' } });
  t.match(droplet.stagingOutput, `Node.js v${dep.version}: reused from $DEPS_DIR/0/node/bin/node, left by an earlier buildpack; no runtime added to the droplet`);
  t.notMatch(droplet.stagingOutput, /Downloading|\*\*WARNING\*\* postmortem/);
  await t.rejects(stat(path.join(droplet.depsDir, '1/node')), 'no runtime of ours');
  const added = await execa('bash', ['-c', 'tar -czf - -C "$1" deps/1 app/.profile.d | wc -c', 'size', droplet.home]);
  const bytes = Number(added.stdout.trim());
  t.ok(bytes < 2 * 1024 * 1024, `the droplet grows by ${(bytes / 1024 / 1024).toFixed(2)} MiB compressed (< 2 MB)`);
  const app = launch(droplet, { command: 'bash run.sh; exec sleep 60', env: { POSTMORTEM_STORE: `file://${path.join(droplet.home, 'dumps')}`, POSTMORTEM_GRACE: '0s' } });
  await app.waitFor(/plain app: ran/);
  const top = (await readFile(`/proc/${app.pid}/cmdline`, 'utf8')).split('\0').join(' ');
  t.match(top, `${droplet.depsDir}/0/node/bin/node `, 'the watchdog is the top process, on the earlier buildpack\'s Node.js');
  t.match(top, /watchdog\.mjs -- bash -c/);
  process.kill(app.pid, 'SIGTERM');
  t.equal((await app.process).exitCode, 143, 'the app\'s status (SIGTERM) through the watchdog');
  const cli = await execa(path.join(droplet.depsDir, '1/bin/postmortem'), ['--help'], { reject: false, env: { DEPS_DIR: droplet.depsDir } });
  t.match(cli.stdout, /^Usage: postmortem /m, 'the CLI runs on it too');
});
