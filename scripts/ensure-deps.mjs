#!/usr/bin/env node
// Runs before `npm test` and `npm run demo` so that both work right after cloning:
// installs the locked npm packages when node_modules is missing or older than the lock
// file, and fetches the pinned Node.js runtime into dependencies/ (the cached-zip layout).
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
