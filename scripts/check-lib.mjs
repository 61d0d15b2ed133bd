#!/usr/bin/env node
// lib/ is committed (a buildpack runs from a git URL without npm): rebuild it and fail if
// the committed bundles differ from what src/ builds to (typescript-action's check-dist).
import { execFileSync } from 'node:child_process';

execFileSync(process.execPath, ['build.mjs'], { stdio: 'inherit' });
const changed = execFileSync('git', ['status', '--porcelain', '--', 'lib', 'manifest.yml'], { encoding: 'utf8' }).trim();
if (changed) {
  console.error(`lib/ or manifest.yml's include_files is stale: run \`npm run build\` and commit the result.\n${changed}`);
  if (process.env.CI) process.exit(1);
  console.error('(not failing outside CI: the rebuilt lib/ is in your work tree now)');
}
