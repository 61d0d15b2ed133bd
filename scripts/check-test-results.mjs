#!/usr/bin/env node
// The dynamic half of check-tests.mjs: reads what node-tap recorded for each test file of this
// run (.tap/test-results/<file>.tap) and refuses a run in which a file or a subtest ran zero
// assertions, a file left no results at all, or (with CI=true) anything was skipped or marked
// todo. A test that returns early, or whose only check sits in a branch that never runs,
// passes node-tap; it does not pass this. Run by `npm test` after tap.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const RESULTS = '.tap/test-results';

async function* testFiles(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* testFiles(full);
    else if (entry.name.endsWith('.test.ts')) yield full;
  }
}

/** Problems in one file's TAP: zero plans (with the subtest they belong to), skips, todos. */
export function problemsIn(tap, { inCi = false } = {}) {
  const problems = [];
  const names = []; // subtest names by indentation depth
  let assertions = 0;
  for (const line of tap.split('\n')) {
    const indent = line.match(/^ */)[0].length / 4;
    const text = line.trim();
    const subtest = text.match(/^# Subtest: (.*)$/);
    if (subtest) { names[indent] = subtest[1]; names.length = indent + 1; continue; }
    if (/^1\.\.0\b/.test(text)) {
      const where = names.slice(0, indent).filter(Boolean).join(' > ') || 'the file';
      problems.push(`${where}: ran zero assertions (1..0)`);
    }
    if (/^(not )?ok \d+/.test(text)) assertions += 1;
    if (inCi && /^(not )?ok \d+.*(?<!\\)# SKIP/i.test(text)) problems.push(`skipped in CI: ${text}`);
    if (inCi && /^(not )?ok \d+.*(?<!\\)# TODO/i.test(text)) problems.push(`todo in CI: ${text}`);
  }
  if (assertions === 0) problems.push('no assertion ran at all');
  return problems;
}

async function main() {
  const inCi = /^(1|true|yes)$/i.test(process.env.CI ?? '');
  const found = [];
  for await (const file of testFiles('test')) {
    const results = path.join(RESULTS, `${file}.tap`);
    const info = await stat(results).catch(() => undefined);
    if (!info) { found.push(`${file}: no results recorded (did it run?)`); continue; }
    for (const problem of problemsIn(await readFile(results, 'utf8'), { inCi })) found.push(`${file}: ${problem}`);
  }
  if (found.length > 0) {
    console.error(`check-test-results: ${found.length} problem(s) in what the tests actually ran:\n  ${found.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`check-test-results: every test file and subtest ran assertions${inCi ? ', nothing skipped (CI)' : ''}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
