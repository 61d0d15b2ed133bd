#!/usr/bin/env node
// `npm run package`: builds the two buildpack zips the way Cloud Foundry's buildpack packager
// (cloudfoundry/libbuildpack, packager/) lays them out, into build/ (or --out DIR):
//   postmortem_buildpack-v<VERSION>.zip         uncached: include_files only; bin/supply
//                                               downloads the runtime at staging
//   postmortem_buildpack-cached-v<VERSION>.zip  cached: plus the runtime under
//                                               dependencies/<md5 of uri>/, manifest `file:` set
// and a `<zip>.sha256` line for each. As the packager does: pre_package runs as an executable
// in a copy of the repository, and include_files entries are copied by their literal names.
//
// One difference, on purpose (staging speed): the cached zip carries the runtime's bare `node`
// binary, taken from the tarball at `uri` after checking the tarball against `sha256`, instead
// of the tarball. The zip compresses it as well as the tarball's gzip does, and staging then
// copies one file instead of un-gzipping 57 MB. `sha256` keeps meaning "the file at uri";
// the cached manifest adds `file_sha256`, the sha256 of the carried binary, which bin/supply
// checks before it runs anything. A zip built by the community packager carries the tarball
// and stages just as well (bin/supply extracts it), only slower.
//
// Deterministic: entries sorted, every file's time set to SOURCE_DATE_EPOCH (default: the last
// commit's time), no extra attributes (zip -X), so the same commit gives the same bytes.
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { parseDocument } from 'yaml';
import { dependencyPath, fetchDependency, readManifest, ROOT, sha256 } from './fetch-runtime.mjs';

const { values } = parseArgs({ options: { out: { type: 'string', default: path.join(ROOT, 'build') } } });
const outDir = path.resolve(values.out);
const manifest = await readManifest();
const version = (await readFile(path.join(ROOT, 'VERSION'), 'utf8')).trim();
const includeFiles = manifest.include_files;
if (!Array.isArray(includeFiles) || includeFiles.some((f) => typeof f !== 'string' || /[*?[]/.test(f))) {
  throw new Error('manifest.yml: include_files must be a list of literal file names (run `npm run build`)');
}

async function sourceDateEpoch() {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  const git = await execa('git', ['log', '-1', '--format=%ct'], { cwd: ROOT, reject: false });
  return git.exitCode === 0 && git.stdout.trim() ? Number(git.stdout.trim()) : 315532800; // 1980-01-01, zip's epoch
}

/** The packager's copy of the repository: what ships, plus pre_package. */
async function copyOfRepository(into) {
  for (const entry of new Set([...includeFiles.map((f) => f.split('/')[0]), 'bin', 'lib', manifest.pre_package])) {
    await cp(path.join(ROOT, entry), path.join(into, entry), { recursive: true, dereference: true });
  }
}

async function zip(dir, files, zipFile, epoch) {
  const sorted = [...files].sort();
  for (const f of sorted) await utimes(path.join(dir, f), epoch, epoch);
  await rm(zipFile, { force: true });
  // -X: no uid/gid or extra time fields; -D: no directory entries; names read from stdin.
  await execa('zip', ['-q', '-X', '-D', '-6', zipFile, '-@'], { cwd: dir, input: sorted.join('\n') + '\n' });
  const sum = await sha256(zipFile);
  await writeFile(`${zipFile}.sha256`, `${sum}  ${path.basename(zipFile)}\n`);
  return { file: zipFile, bytes: (await stat(zipFile)).size, sha256: sum };
}

/** The cached zip's manifest: `file:` (and `file_sha256:`) for each dependency carried. */
async function cachedManifest(carried) {
  const doc = parseDocument(await readFile(path.join(ROOT, 'manifest.yml'), 'utf8'));
  for (const item of doc.get('dependencies').items) {
    const c = carried.get(item.get('uri'));
    item.set('file', c.file);
    item.set('file_sha256', c.fileSha256);
  }
  return doc.toString({ lineWidth: 0, indentSeq: false });
}

const MiB = 1024 * 1024;
const size = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;
const epoch = await sourceDateEpoch();
await mkdir(outDir, { recursive: true });
const work = await mkdtemp(path.join(os.tmpdir(), 'pm-package-'));
try {
  const copy = path.join(work, 'buildpack');
  await copyOfRepository(copy);
  const pre = path.join(copy, manifest.pre_package);
  await chmod(pre, 0o755).catch(() => undefined);
  // exec'd directly, as the packager does: it must be an executable file with a #! line.
  await promisify(execFile)(pre, [], { cwd: copy }).then(({ stdout }) => process.stdout.write(stdout));

  const uncached = await zip(copy, includeFiles, path.join(outDir, `${manifest.language}_buildpack-v${version}.zip`), epoch);

  const carried = new Map();
  let tarballs = 0;
  for (const dep of manifest.dependencies) {
    const tgz = await fetchDependency(dep);
    tarballs += (await stat(tgz)).size;
    const file = path.posix.join(path.posix.dirname(dependencyPath(dep)), 'node');
    const into = path.join(work, 'extract');
    await mkdir(into, { recursive: true });
    await execa('tar', ['-xzf', tgz, '-C', into, 'package/bin/node']);
    await mkdir(path.join(copy, path.dirname(file)), { recursive: true });
    await cp(path.join(into, 'package/bin/node'), path.join(copy, file));
    await chmod(path.join(copy, file), 0o755);
    carried.set(dep.uri, { file, fileSha256: await sha256(path.join(copy, file)) });
  }
  await writeFile(path.join(copy, 'manifest.yml'), await cachedManifest(carried));
  const cachedFiles = [...includeFiles, ...[...carried.values()].map((c) => c.file)];
  const cached = await zip(copy, cachedFiles, path.join(outDir, `${manifest.language}_buildpack-cached-v${version}.zip`), epoch);

  const shown = (file) => (path.relative(process.cwd(), file).startsWith('..') ? file : path.relative(process.cwd(), file));
  for (const z of [uncached, cached]) console.log(`${shown(z.file)}: ${size(z.bytes)} (${z.bytes} bytes), sha256 ${z.sha256}`);
  console.log(`cached zip / runtime tarball it carries: ${size(cached.bytes)} / ${size(tarballs)} = ${(cached.bytes / tarballs).toFixed(2)}x`);
} finally {
  await rm(work, { recursive: true, force: true });
}
