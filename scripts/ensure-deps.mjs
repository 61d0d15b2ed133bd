#!/usr/bin/env node
// Runs before `npm test`, `npm run demo`, `npm run package` and the bench, so that they work
// right after cloning: installs the locked npm packages when node_modules is missing or older
// than the lock file, and downloads the pinned Node.js runtime once into dependencies/ (the
// download cache, scripts/fetch-runtime.mjs).
// Uses only Node built-ins: it runs before any package is installed.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mtime = (p) => { try { return statSync(path.join(root, p)).mtimeMs; } catch { return 0; } };

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (mtime('node_modules/.package-lock.json') < mtime('package-lock.json')) {
  console.log('> npm ci (node_modules missing or older than package-lock.json)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}
run(process.execPath, ['scripts/fetch-runtime.mjs']);
