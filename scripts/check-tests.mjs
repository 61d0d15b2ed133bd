#!/usr/bin/env node
// Refuses test code that can pass without testing anything: an unconditional t.pass(), a
// file or test that plans zero assertions, or a skip option, anywhere but the one helper that
// turns a skip into a failure in CI (test/support/requirements.ts). Run by `npm test`.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

// The checkers' own fixtures hold, on purpose, exactly what they refuse.
const ALLOWED = new Set(['test/support/requirements.ts', 'test/fixtures/tap-probe/hollow.test.mjs']);
const RULES = [
  { pattern: /\bt\.pass\s*\(/, why: 't.pass() asserts nothing: assert what was observed' },
  { pattern: /\.plan\s*\(\s*0\b/, why: 'plan(0) passes by running nothing: use skipOrFailInCi from test/support/requirements.ts' },
  { pattern: /\{\s*skip\s*:/, why: 'a skip option passes in CI: use unlessMissing/skipOrFailInCi from test/support/requirements.ts' },
  { pattern: /\bt\.skip\s*\(|\.todo\s*\(/, why: 'skipped or todo tests pass in CI: use skipOrFailInCi or finish the test' },
];

async function* files(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(full);
    else if (/\.(ts|mjs|js)$/.test(entry.name)) yield full;
  }
}

const found = [];
for await (const file of files('test')) {
  if (ALLOWED.has(file)) continue;
  const lines = (await readFile(file, 'utf8')).split('\n');
  lines.forEach((line, i) => {
    if (/^\s*(\/\/|\*)/.test(line)) return;
    for (const rule of RULES) if (rule.pattern.test(line)) found.push(`${file}:${i + 1}: ${rule.why}\n    ${line.trim()}`);
  });
}
if (found.length > 0) {
  console.error(`check-tests: ${found.length} test line(s) that cannot fail:\n${found.join('\n')}`);
  process.exit(1);
}
console.log('check-tests: no unconditional passes, zero plans or skips outside test/support/requirements.ts');
