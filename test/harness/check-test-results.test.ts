// scripts/check-test-results.mjs reads what node-tap really recorded: the fixtures are run by a
// real node-tap in a scratch project and the checker is given its output files.
import t from 'tap';
import { cp, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { tempDir } from '../support/temp.ts';
// @ts-expect-error: a plain .mjs script without types
import { problemsIn } from '../../scripts/check-test-results.mjs';

const check = problemsIn as (tap: string, opts?: { inCi?: boolean }) => string[];
const root = path.resolve(import.meta.dirname, '../..');

async function tapOutputOf(files: string[]): Promise<Record<string, string>> {
  const dir = await tempDir('tap-probe-');
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', tap: { 'disable-coverage': true, 'allow-empty-coverage': true } }));
  await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  for (const f of files) await cp(path.join(root, 'test/fixtures/tap-probe', f), path.join(dir, f));
  await execa('npx', ['tap', ...files], { cwd: dir, reject: false, timeout: 120_000 });
  const out: Record<string, string> = {};
  for (const f of files) out[f] = await readFile(path.join(dir, '.tap/test-results', `${f}.tap`), 'utf8');
  return out;
}

t.test('what node-tap passes but the checker refuses, and what it accepts', async (t) => {
  const tap = await tapOutputOf(['hollow.test.mjs', 'solid.test.mjs']);
  const hollowInCi = check(tap['hollow.test.mjs']!, { inCi: true });
  t.ok(hollowInCi.some((p) => /^returns before asserting: ran zero assertions/.test(p)), `zero-assertion subtest named: ${hollowInCi.join(' | ')}`);
  t.ok(hollowInCi.some((p) => /skipped in CI: .*skipped # SKIP/.test(p)), 'a skip is refused in CI');
  t.ok(hollowInCi.some((p) => /todo in CI: .*todo # TODO/.test(p)), 'a todo is refused in CI');
  const hollowLocally = check(tap['hollow.test.mjs']!, { inCi: false });
  t.same(hollowLocally.filter((p) => /SKIP|TODO/.test(p)), [], 'outside CI a skip is allowed (requirements.ts skips locally)');
  t.ok(hollowLocally.some((p) => /zero assertions/.test(p)), 'a hollow subtest is refused everywhere');
  t.same(check(tap['solid.test.mjs']!, { inCi: true }), [], 'nested subtests with assertions pass');
});

t.test('a file that ran nothing, and one whose plan is empty', async (t) => {
  t.same(check('', { inCi: true }), ['no assertion ran at all']);
  t.same(check('TAP version 14\n1..0 # no tests found\n', { inCi: false }), ['the file: ran zero assertions (1..0)', 'no assertion ran at all']);
});


t.test('a description that mentions "# SKIP" (escaped by tap) is not a directive', async (t) => {
  t.same(check('ok 1 - the log says \\# SKIP and \\# TODO\n1..1\n', { inCi: true }), []);
  t.same(check('ok 1 - really skipped # SKIP no cgroup\n1..1\n', { inCi: true }), ['skipped in CI: ok 1 - really skipped # SKIP no cgroup']);
});
