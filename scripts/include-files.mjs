#!/usr/bin/env node
// Writes manifest.yml's include_files: the literal list of files a buildpack zip carries.
// Cloud Foundry's packager copies each entry by its exact name (no globbing), so every lib/
// bundle is listed; `npm run build` calls this after bundling, so the list follows lib/.
// scripts/pre-package fails the packaging when the list and the files drift apart.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Top-level files every zip carries besides bin/ and lib/. */
const TOP_LEVEL = ['CHANGELOG.md', 'LICENSE', 'README.md', 'VERSION', 'manifest.yml'];

async function filesBelow(dir) {
  const entries = await readdir(path.join(ROOT, dir), { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

export async function includeFiles() {
  const shipped = [...(await filesBelow('bin')), ...(await filesBelow('lib'))].sort();
  return [...TOP_LEVEL, ...shipped];
}

/** Rewrites include_files in manifest.yml (comments kept); true when it changed. */
export async function writeIncludeFiles() {
  const file = path.join(ROOT, 'manifest.yml');
  const before = await readFile(file, 'utf8');
  const doc = parseDocument(before);
  const list = doc.createNode(await includeFiles());
  list.flow = false;
  doc.set('include_files', list);
  const after = doc.toString({ lineWidth: 0, indentSeq: false });
  if (after !== before) await writeFile(file, after);
  return after !== before;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log((await writeIncludeFiles()) ? 'manifest.yml: include_files updated' : 'manifest.yml: include_files up to date');
}
