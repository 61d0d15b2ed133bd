// The profile.d script lowers MEMORY_LIMIT in shell (no Node.js start at launch); the rule
// is src/config/memory-limit.ts. Both run over the same inputs, a table and generated
// spellings, in real bash (normal and POSIX mode), and must give the same MEMORY_LIMIT.
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { execa } from 'execa';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../support/temp.ts';
import { appMemoryLimit } from '../../src/config/memory-limit.ts';
import { memoryShareFunctions } from '../../src/launch/memory-share.ts';

/** [MEMORY_LIMIT, POSTMORTEM_MEMORY_RESERVE]; undefined = unset. */
type Input = [string | undefined, string | undefined];

/** Runs the shell rule over every input in one bash: NUL-separated fields in, one line out per input. */
async function shell(t: Test, inputs: Input[], posix: boolean): Promise<(string | undefined)[]> {
  const field = (v: string | undefined) => (v === undefined ? 'U' : `S${v}`);
  const stdin = inputs.map(([l, r]) => `${field(l)}\0${field(r)}\0`).join('');
  const body = `${memoryShareFunctions()}
while IFS= read -r -d '' l && IFS= read -r -d '' r; do
  case $l in U) unset L ;; *) L=\${l#S} ;; esac
  case $r in U) unset R ;; *) R=\${r#S} ;; esac
  __pm_app_memory "\${L-}" "\${R-}"
  printf '%s\\n' "\${__pm_app_limit:--}"
done < "$1"`;
  // From a file: a socket on stdin (execa's pipes) makes bash read ~/.bashrc ("remote shell" rule).
  const file = path.join(await tempDir('pm-share-'), 'inputs');
  await writeFile(file, stdin);
  const result = await execa('bash', [...(posix ? ['--posix'] : []), '-c', body, 'bash', file], { stdin: 'ignore', env: { PATH: process.env.PATH!, LC_ALL: 'C.UTF-8' }, extendEnv: false });
  const lines = result.stdout.split('\n');
  t.equal(lines.length, inputs.length, 'one answer per input');
  return lines.map((l) => (l === '-' ? undefined : l));
}

function typescript([limit, reserve]: Input): string | undefined {
  return appMemoryLimit({ ...(limit !== undefined ? { MEMORY_LIMIT: limit } : {}), ...(reserve !== undefined ? { POSTMORTEM_MEMORY_RESERVE: reserve } : {}) });
}

async function agree(t: Test, inputs: Input[]) {
  const expected = inputs.map(typescript);
  for (const posix of [false, true]) {
    const got = await shell(t, inputs, posix);
    const differ = inputs.map((input, i) => ({ input, ts: expected[i], sh: got[i] })).filter((d) => d.ts !== d.sh);
    t.same(differ.slice(0, 5), [], `posix=${posix}: shell and TypeScript agree on all ${inputs.length} inputs`);
  }
  return expected;
}

t.test('the table: what the platform and people write', async (t) => {
  const table: [Input, string | undefined][] = [
    [['1024m', undefined], '880m'],
    [['1G', '200M'], '824m'],
    [['1024', ''], '880m'],
    [['1024m', '  '], '880m'],
    [['2g', '1.5g'], undefined],
    [['4g', '1.5g'], '2560m'],
    [['4096M', '0.25GiB'], '3840m'],
    [['1024m', '0'], undefined],
    [['1024m', '0.0'], undefined],
    [['256m', undefined], undefined],
    [['288m', undefined], '144m'],
    [['287m', undefined], undefined],
    [['1024m', 'much'], undefined],
    [['1024m', '17GiB'], undefined],
    [['64g', '16GiB'], '49152m'],
    [['1024m', '1.1234567m'], undefined],
    [['1024m', '1.123456m'], '1022m'],
    [['1024m', '010M'], '1014m'],
    [[' 1024 MiB ', '\t96 mb\n'], '928m'],
    [['1GiB', '100663296'], '928m'],
    [['1gib', '100663296b'], '928m'],
    [['1024ib', undefined], '880m'],
    [['1.5g', undefined], undefined],
    [['lots', undefined], undefined],
    [[undefined, undefined], undefined],
    [['', '1m'], undefined],
    [['0m', '1m'], undefined],
    [['9007199254740991k', '1m'], undefined],
    [['8796093022207k', '1m'], '8589934590m'],
    [['1k', '1'], '0m'],
    [['3k', '1.5k'], '0m'],
    [['2048m', '0.000001t'], '2046m'],
    [['2048m', '0.0000005t'], undefined],
  ];
  const inputs = table.map(([input]) => input);
  const got = await agree(t, inputs);
  table.forEach(([input, want], i) => t.equal(got[i], want, `${JSON.stringify(input)} -> ${want ?? 'left alone'}`));
});

t.test('generated spellings: numbers, decimals, blanks, units in any case, and junk', async (t) => {
  const blank = fc.constantFrom('', ' ', '\t', '  ', '\n');
  const digits = (max: number) => fc.stringMatching(new RegExp(`^[0-9]{1,${max}}$`));
  const casing = (unit: string) => fc.array(fc.boolean(), { minLength: unit.length, maxLength: unit.length }).map((up) => [...unit].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(''));
  const unit = fc.constantFrom('', 'b', 'ib', 'k', 'kb', 'kib', 'm', 'mb', 'mib', 'g', 'gb', 'gib', 't', 'tb', 'tib', 'x', 'kk').chain(casing);
  const size = fc.tuple(blank, digits(18), fc.option(digits(8), { nil: undefined }), blank, unit, blank)
    .map(([a, n, frac, b, u, c]) => `${a}${n}${frac === undefined ? '' : `.${frac}`}${b}${u}${c}`);
  const junk = fc.string({ maxLength: 8 });
  const value = fc.oneof({ weight: 6, arbitrary: size }, { weight: 1, arbitrary: junk }, { weight: 1, arbitrary: fc.constant(undefined) });
  // Realistic limits with reserves near half of them, where the rule turns.
  const near = fc.tuple(fc.integer({ min: 1, max: 65536 }), fc.integer({ min: 0, max: 70000 }), fc.constantFrom('m', 'M', 'mb')).map(([mb, r, u]): Input => [`${mb}m`, `${r / 2}${u}`]);
  const inputs = [...fc.sample(fc.tuple(value, value), { numRuns: 3000, seed: 12 }), ...fc.sample(near, { numRuns: 1000, seed: 13 })];
  const got = await agree(t, inputs);
  t.ok(got.filter((g) => g !== undefined).length > 300, 'a good share of the inputs lower the limit (the generator reaches the rule)');
});
