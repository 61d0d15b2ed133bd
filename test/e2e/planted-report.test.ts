// Anyone who can write to the bucket can plant a report.json. The CLI must treat it as
// untrusted input: names that leave --out, absolute or NUL-containing names and keys outside
// the crash are refused with a clear error (never rewritten), nothing is written outside
// --out, existing files are never replaced, and control sequences never reach the terminal.
// Against the run's real S3 server (RGW) and a file store.
import t from 'tap';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { BUILDPACK_DIR } from '../support/cf.ts';
import { testStore } from '../support/test-store.ts';
import { tempDir } from '../support/temp.ts';

const store = await testStore(t, 'planted');
const ESC = '\u001b';

function report(crash: string, artifacts: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  return {
    schema: 1, tool: 'postmortem-buildpack 0.1.0', reason: 'oom', summary: 'ran out of Java heap',
    app: { name: 'crashy', guid: 'g', space: 'dev', org: 'acme', processType: 'web', instanceIndex: '0', instanceGuid: 'i' },
    exit: { status: 1, code: 1, signal: null }, times: { started: '2026-11-30T10:00:00.000Z', detected: '2026-11-30T10:00:01.000Z', died: null },
    store: 's3://x', crash, artifacts, failed: [], ...extra,
  };
}
const artifact = (crash: string, name: string, key = `${crash}/${name}`) => ({
  name, key, location: 'x', size: 5, sha256: 'a'.repeat(64), storedSize: 5, storedSha256: 'a'.repeat(64), compression: 'none', complete: true, verified: true, uploadMs: 1,
});

interface Planted { cli: (...args: string[]) => Promise<{ exitCode?: number | undefined; stdout: string; stderr: string }>; plant: (key: string, body: string) => Promise<void> }

const s3Planted: Planted = {
  cli: (...args) => execa(path.join(BUILDPACK_DIR, 'bin/postmortem'), args, { env: { ...process.env, ...store.env('p') }, reject: false }),
  plant: async (key, body) => { await store.client.send(new PutObjectCommand({ Bucket: store.bucket, Key: key, Body: body })); },
};
const fileRoot = await tempDir('pm-planted-store-');
const filePlanted: Planted = {
  cli: (...args) => execa(path.join(BUILDPACK_DIR, 'bin/postmortem'), [...args, '--store', `file://${fileRoot}`], { reject: false }),
  plant: async (key, body) => { await mkdir(path.dirname(path.join(fileRoot, key)), { recursive: true }); await writeFile(path.join(fileRoot, key), body); },
};

/** Every file under dir, with its content: to prove nothing changed. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) { const p = path.join(entry.parentPath, entry.name); files.set(p, await readFile(p, 'utf8')); }
  }
  return files;
}

for (const [storeName, planted] of [['S3 (RGW)', s3Planted], ['file store', filePlanted]] as const) {
  t.test(`${storeName}: names that would leave --out are refused, nothing outside --out is touched`, async (t) => {
    const cases: { label: string; name: string; key?: string; refusal: RegExp }[] = [
      { label: 'dot-dot', name: '../../pwned.txt', refusal: /path separator/ },
      { label: 'plain dot-dot', name: '..', refusal: /not a file name/ },
      { label: 'absolute', name: '/tmp/pm-planted-absolute.txt', refusal: /path separator|absolute/ },
      { label: 'NUL', name: 'heap\u0000.hprof', refusal: /NUL/ },
      { label: 'backslash', name: '..\\..\\pwned.txt', refusal: /path separator/ },
      { label: 'key outside the crash', name: 'heap.hprof', key: 'p/other/secret.bin', refusal: /outside/ },
    ];
    let n = 0;
    for (const c of cases) {
      n += 1;
      const crash = `p/acme/dev/crashy/2026-11-30/20261130T10000${n}Z-0-oom`;
      await planted.plant(`${crash}/report.json`, JSON.stringify(report(crash, [artifact(crash, c.name, c.key)])));
      await planted.plant(c.key ?? `${crash}/x`, 'hello');
      const sandbox = await tempDir('pm-planted-');
      const out = path.join(sandbox, 'a', 'b', 'out');
      await mkdir(out, { recursive: true });
      // Files a hostile report would like to replace.
      await writeFile(path.join(sandbox, 'a', 'pwned.txt'), 'original\n');
      await writeFile(path.join(sandbox, 'pwned.txt'), 'original\n');
      const before = await snapshot(sandbox);
      for (const command of ['get', 'show']) { // verify and url read the report the same way as these
        const run = await planted.cli(command, crash, ...(command === 'get' ? ['--out', out] : []));
        t.equal(run.exitCode, 1, `${c.label}: ${command} fails`);
        t.match(run.stderr, c.refusal, `${c.label}: ${command} says why`);
        t.match(run.stderr, /refusing to use this report/, `${c.label}: ${command} refuses the report`);
        t.notMatch(run.stderr, /[\u0000-\u0008\u000b-\u001f]/, 'no raw control characters in the error');
      }
      t.same(await snapshot(sandbox), before, `${c.label}: nothing written or changed anywhere`);
      t.same(await readdir(out), [], `${c.label}: --out is still empty`);
    }
    t.rejects(readFile('/tmp/pm-planted-absolute.txt'), 'the absolute path was not written');
  });

  t.test(`${storeName}: a report that is not a crash report is refused before use`, async (t) => {
    const crash = 'p/acme/dev/crashy/2026-11-30/20261130T110000Z-0-oom';
    await planted.plant(`${crash}/report.json`, JSON.stringify({ ...report(crash, []), artifacts: { name: '../x' } }));
    const run = await planted.cli('get', crash, '--out', await tempDir('pm-planted-'));
    t.equal(run.exitCode, 1);
    t.match(run.stderr, /is not a crash report \(report\.artifacts: expected a list, got object\)/);
    const broken = 'p/acme/dev/crashy/2026-11-30/20261130T110001Z-0-oom';
    await planted.plant(`${broken}/report.json`, '{"schema": 1, "artifacts": [');
    t.match((await planted.cli('show', broken)).stderr, /is not JSON/);
  });

  t.test(`${storeName}: an existing file in --out is never replaced`, async (t) => {
    const crash = 'p/acme/dev/crashy/2026-11-30/20261130T120000Z-0-oom';
    const body = 'hello';
    const sha = (await import('node:crypto')).createHash('sha256').update(body).digest('hex');
    await planted.plant(`${crash}/notes.txt`, body);
    await planted.plant(`${crash}/report.json`, JSON.stringify(report(crash, [{ ...artifact(crash, 'notes.txt'), sha256: sha, storedSha256: sha }])));
    const out = await tempDir('pm-planted-out-');
    await writeFile(path.join(out, 'notes.txt'), 'mine\n');
    const run = await planted.cli('get', crash, '--out', out);
    t.equal(run.exitCode, 1);
    t.match(run.stdout, /FAIL notes\.txt: not saved: .*notes\.txt already exists/);
    t.equal(await readFile(path.join(out, 'notes.txt'), 'utf8'), 'mine\n', 'untouched');
    t.same((await readdir(out)).sort(), ['notes.txt', 'report.json'], 'no partial file left behind (the report was new there)');
    const fresh = await tempDir('pm-planted-out-');
    t.equal((await planted.cli('get', crash, '--out', fresh)).exitCode, 0, 'a clean --out works');
    t.equal(await readFile(path.join(fresh, 'notes.txt'), 'utf8'), body);
  });

  t.test(`${storeName}: escape sequences in a report never reach the terminal`, async (t) => {
    const crash = `p/acme/dev/crashy${ESC}[2J/2026-11-30/20261130T130000Z-0-oom`;
    const hostile = `${ESC}]0;owned${'\u0007'}${ESC}[31mred\u009b2J\r`;
    await planted.plant(`${crash}/report.json`, JSON.stringify(report(crash, [], {
      reason: hostile, summary: hostile, failed: [{ name: `x${ESC}[8m`, error: hostile }],
      app: { name: hostile, guid: 'g', space: 'dev', org: 'acme', processType: hostile, instanceIndex: '0', instanceGuid: 'i' },
    })));
    const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
    for (const args of [['show', crash], ['show', crash, '--json'], ['ls'], ['ls', '--json']]) {
      const run = await planted.cli(...args);
      t.equal(run.exitCode, 0, `${args.join(' ')}: ${run.stderr}`);
      t.notMatch(run.stdout, raw, `${args.join(' ')}: no raw control characters`);
    }
    const shown = await planted.cli('show', crash);
    t.match(shown.stdout, /\\x1b\]0;owned\\x07\\x1b\[31mred\\x9b2J\\x0d/, 'shown visibly, not interpreted');
    const json = JSON.parse((await planted.cli('show', crash, '--json')).stdout);
    t.equal(json.reason, hostile, 'JSON output still carries the exact value, escaped');
  });
}
