#!/usr/bin/env node
// Puts the Node.js runtime named in manifest.yml into dependencies/ (the cached zip's
// layout), fetched with the npm client and checked against the manifest's sha256.
// Idempotent: a file that is already there and matches is kept.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { parse } from 'yaml';
import { readFile } from 'node:fs/promises';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const manifest = parse(await readFile(path.join(root, 'manifest.yml'), 'utf8'));
const outDir = path.join(root, 'dependencies');
await mkdir(outDir, { recursive: true });

async function sha256(file) {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

for (const dep of manifest.dependencies) {
  const target = path.join(outDir, dep.file);
  if (await stat(target).then(() => true, () => false)) {
    if ((await sha256(target)) === dep.sha256) { console.log(`${dep.file}: present, sha256 ok`); continue; }
    await rm(target);
  }
  const spec = dep.uri.replace(/^npm:/, '');
  const { stdout } = await execa('npm', ['pack', spec, '--pack-destination', outDir, '--silent']);
  const packed = path.join(outDir, stdout.trim().split('\n').pop());
  if (packed !== target) await rename(packed, target);
  const actual = await sha256(target);
  if (actual !== dep.sha256) {
    await rm(target);
    throw new Error(`${spec}: sha256 ${actual} does not match manifest.yml (${dep.sha256}); file removed`);
  }
  console.log(`${dep.file}: fetched, sha256 ok`);
}
