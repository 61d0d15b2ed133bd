#!/usr/bin/env node
// Downloads each dependency of manifest.yml (the Node.js runtime) into the download cache,
// dependencies/<md5 of uri>/<basename of uri> (the layout Cloud Foundry's packager gives the
// cached zip), and checks it against the manifest's sha256. Idempotent: a file that is
// already there and matches is kept, so tests and packaging reach the network once.
// Uses curl (as bin/supply does at staging; proxies from the environment apply).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { parse } from 'yaml';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function readManifest(file = path.join(ROOT, 'manifest.yml')) {
  return parse(await readFile(file, 'utf8'));
}

export async function sha256(file) {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Where the packager keeps a dependency: dependencies/<hex md5 of uri>/<basename of uri>. */
export function dependencyPath(dep) {
  const md5 = createHash('md5').update(dep.uri).digest('hex');
  return path.posix.join('dependencies', md5, path.posix.basename(new URL(dep.uri).pathname));
}

/** The verified file of a manifest dependency in the download cache, fetched when missing. */
export async function fetchDependency(dep, log = console.log) {
  const target = path.join(ROOT, dependencyPath(dep));
  if (await stat(target).then(() => true, () => false)) {
    if ((await sha256(target)) === dep.sha256) return target;
    log(`${target}: sha256 does not match manifest.yml; downloading again`);
    await rm(target);
  }
  await mkdir(path.dirname(target), { recursive: true });
  log(`downloading ${dep.uri}`);
  const partial = `${target}.partial`;
  await execa('curl', ['--fail', '--silent', '--show-error', '--location', '--retry', '3', '-o', partial, dep.uri]);
  const actual = await sha256(partial);
  if (actual !== dep.sha256) {
    await rm(partial);
    throw new Error(`${dep.uri}: sha256 ${actual} does not match manifest.yml (${dep.sha256}); file removed`);
  }
  await rename(partial, target);
  return target;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const manifest = await readManifest();
  for (const dep of manifest.dependencies) console.log(`${path.relative(ROOT, await fetchDependency(dep))}: sha256 ok`);
}
