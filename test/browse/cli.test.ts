// The CLI as a new user meets it: help and --version on stdout with exit 0, unknown commands
// with a suggestion, bad values refused naming the option, documented exit codes (0 ok,
// 1 failure, 2 usage, 3 verification failed), ls by key prefix with its filters, get with
// report.json and --keep-compressed, show with the OOM message, flags, histogram and log
// tail, config with secrets masked, open, and --region/--endpoint/--profile like aws.
// Through the built binary (bin/postmortem -> lib/cli.mjs) against a real file store and the
// run's real S3 server (RGW). The crashes are planted: the shape the watchdog writes, with
// real hashes, so every check the CLI makes is a real one.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { crashListPrefixes, listCrashes } from '../../src/browse/crashes.ts';
import { createFileStore } from '../../src/store/file-store.ts';
import { BUILDPACK_DIR } from '../support/cf.ts';
import { testStore } from '../support/test-store.ts';
import { tempDir } from '../support/temp.ts';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const version = JSON.parse(await readFile(path.join(BUILDPACK_DIR, 'package.json'), 'utf8')).version as string;

/** The environment without any store or AWS setting of the machine running the tests. */
const bareEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(POSTMORTEM_|AWS_|VCAP_)/.test(k)));
const run = (env: Record<string, string | undefined>, ...args: string[]) =>
  execa(path.join(BUILDPACK_DIR, 'bin/postmortem'), args, { env, extendEnv: false, reject: false });

interface CrashSpec { org?: string; space?: string; app?: string; instance?: string; reason?: string; time: string; histogram?: boolean; log?: string }

const HPROF = Buffer.concat([Buffer.from('JAVA PROFILE 1.0.2\0', 'latin1'), Buffer.alloc(4096, 7)]);

/** One crash's objects: report.json, a gzip heap dump and a log tail, hashes as the watchdog computes them. */
function crashObjects(prefix: string, spec: CrashSpec): { crash: string; objects: Map<string, Buffer> } {
  const stamp = spec.time.replace(/[-:]/g, '').replace(/\.\d+/, '');
  const crash = [prefix, spec.org ?? 'acme', spec.space ?? 'dev', spec.app ?? 'shop', spec.time.slice(0, 10), `${stamp}-${spec.instance ?? '0'}-${spec.reason ?? 'oom'}`].filter(Boolean).join('/');
  const heapGz = gzipSync(HPROF);
  const log = Buffer.from(spec.log ?? Array.from({ length: 30 }, (_, i) => `app line ${i + 1}`).join('\n') + '\n');
  const artifact = (name: string, stored: Buffer, content: Buffer, compression: string) => ({
    name, key: `${crash}/${name}`, location: 'x', size: content.length, sha256: sha256(content), storedSize: stored.length,
    storedSha256: sha256(stored), compression, complete: true, verified: true, uploadMs: 1,
  });
  const report = {
    schema: 1, tool: 'postmortem-buildpack test', reason: spec.reason ?? 'oom', state: 'final', summary: 'ran out of Java heap',
    oomKind: { kind: 'java-heap', message: 'Java heap space', what: 'Java heap', hint: 'the heap is bounded by -Xmx; the heap dump shows what filled it' },
    app: { name: spec.app ?? 'shop', guid: 'g', space: spec.space ?? 'dev', org: spec.org ?? 'acme', processType: 'web', instanceIndex: spec.instance ?? '0', instanceGuid: 'i' },
    exit: { status: 1, code: 1, signal: null }, times: { started: spec.time, detected: spec.time, died: spec.time },
    jvm: { javaToolOptions: '-Xmx32m -XX:+HeapDumpOnOutOfMemoryError', javaOpts: null, jdkMajors: [17] },
    // The shape the watchdog writes (capture/heap-histogram.ts), with one malformed row planted.
    ...(spec.histogram ? { heapHistograms: [{ artifact: 'heap.hprof.gz', complete: true, top: [
      { name: 'com.example.Leak', instances: 123456, bytes: 29_000_000 },
      { name: 'byte[]', instances: 10, bytes: 1_000_000 },
      { nonsense: true },
    ], outOfMemoryThread: { name: 'main' } }] } : {}),
    store: 's3://x', crash,
    artifacts: [artifact('heap.hprof.gz', heapGz, HPROF, 'gzip'), artifact('log-tail.txt', log, log, 'none')],
    failed: [], pending: [],
  };
  return { crash, objects: new Map([[`${crash}/report.json`, Buffer.from(JSON.stringify(report))], [`${crash}/heap.hprof.gz`, heapGz], [`${crash}/log-tail.txt`, log]]) };
}

// A file store (keys without a prefix, as the watchdog writes them there) with crashes of two apps and two orgs.
const root = await tempDir('pm-cli-store-');
const fileEnv = { ...bareEnv(), POSTMORTEM_STORE: `file://${root}` };
const plantFile = async (spec: CrashSpec) => {
  const { crash, objects } = crashObjects('', spec);
  for (const [key, body] of objects) {
    await mkdir(path.dirname(path.join(root, key)), { recursive: true });
    await writeFile(path.join(root, key), body);
  }
  return crash;
};
const newest = await plantFile({ time: '2026-11-30T10:00:00Z', instance: '1', reason: 'exit-1', histogram: false });
const oom = await plantFile({ time: '2026-11-29T10:00:00Z', histogram: true, log: `${Array.from({ length: 30 }, (_, i) => `app line ${i + 1}`).join('\n')}\nescape \u001b[2J here\n` });
await plantFile({ time: '2026-11-28T10:00:00Z', app: 'shop2' });
await plantFile({ time: '2026-11-27T10:00:00Z', org: 'other' });
const cli = (...args: string[]) => run(fileEnv, ...args);

t.test('help, version and usage errors', async (t) => {
  for (const args of [['--help'], ['help'], ['-h']]) {
    const r = await cli(...args);
    t.equal(r.exitCode, 0, `${args.join(' ')} exits 0`);
    t.match(r.stdout, /Usage: postmortem/, `${args.join(' ')}: help on stdout`);
    t.match(r.stdout, /Exit codes: 0 ok, 1 failure, 2 usage .*\s3 verification failed/s);
    t.equal(r.stderr, '');
  }
  const getHelp = await cli('get', '--help');
  t.equal(getHelp.exitCode, 0);
  t.match(getHelp.stdout, /Usage: postmortem get \[options\] <crash>/, 'per-command help');
  t.match(getHelp.stdout, /--keep-compressed/);
  t.match(getHelp.stdout, /Examples:\n {2}\$ postmortem get/);
  t.notMatch(getHelp.stdout, /Commands:/, 'not the global text');
  t.equal((await cli('help', 'ls')).stdout, (await cli('ls', '--help')).stdout, 'help ls is ls --help');

  const v = await cli('--version');
  t.equal(v.exitCode, 0);
  t.equal(v.stdout.trim(), version);

  const none = await cli();
  t.equal(none.exitCode, 2, 'no command: usage');
  t.match(none.stderr, /Usage: postmortem/);

  const lst = await cli('lst');
  t.equal(lst.exitCode, 2);
  t.match(lst.stderr, /unknown command 'lst'/);
  t.match(lst.stderr, /did you mean ls\?/i);
  t.equal(lst.stdout, '');

  t.match((await cli('ls', '--frob')).stderr, /unknown option '--frob'/);
  t.equal((await cli('ls', '--frob')).exitCode, 2);
  t.equal((await cli('show')).exitCode, 2, 'a missing crash is a usage error');
});

t.test('values are validated, naming the option and the accepted form', async (t) => {
  const cases: [string[], RegExp][] = [
    [['url', newest, '--expires', 'forever'], /option '--expires <duration>' argument 'forever' is invalid\. expected a duration from 1s to 7d/],
    [['url', newest, '--expires', '8d'], /--expires <duration>.*'8d' is invalid/],
    [['ls', '--since', 'yesterday'], /--since <duration>.*'yesterday' is invalid\. expected a duration like 30m/],
    [['ls', '--limit', '0'], /--limit <n>.*'0' is invalid\. expected a whole number of 1 or more/],
    [['show', newest, '--tail', 'x'], /--tail <lines>.*'x' is invalid/],
    [['ls', '--endpoint', 'ftp://x'], /--endpoint <url>.*expected an http\(s\) URL/],
    [['ls', '--store', '/var/dumps'], /--store <url>.*'\/var\/dumps' is invalid\. expected s3:\/\/bucket\[\/prefix\] or file:\/\/\/absolute\/path\. Fix: write it as file:\/\/\/var\/dumps/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(...args);
    t.equal(r.exitCode, 2, `${args.join(' ')}: usage exit`);
    t.match(r.stderr, message, `${args.join(' ')}: says what is accepted`);
    t.equal(r.stdout, '', `${args.join(' ')}: nothing done`);
  }
  const url = await cli('url', newest, '--expires', '10m');
  t.equal(url.exitCode, 0, url.stderr);
  t.match(url.stdout, /^heap\.hprof\.gz\tfile:\/\//m);
});

t.test('ls says which store it lists, and refuses to guess one', async (t) => {
  const r = await cli('ls');
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stderr, new RegExp(`^postmortem: listing file://${root} \\(from POSTMORTEM_STORE\\)$`), 'one line on stderr');
  const unset = await run(bareEnv(), 'ls');
  t.equal(unset.exitCode, 2);
  t.match(unset.stderr, /no store is set: give --store .* POSTMORTEM_STORE/);
  t.equal(unset.stdout, '', 'no listing of a local folder');
  const flag = await run(bareEnv(), 'ls', '--json', '--store', `file://${root}`);
  t.equal(JSON.parse(flag.stdout).length, 4, '--store instead of the variable');
});

t.test('ls filters by org, space, app, instance, and limits', async (t) => {
  const ls = async (...args: string[]) => {
    const r = await cli('ls', '--json', ...args);
    t.equal(r.exitCode, 0, r.stderr);
    return (JSON.parse(r.stdout) as { crash: string; app: string; org: string; instance: string }[]);
  };
  t.same((await ls()).map((c) => c.crash)[0], newest, 'newest first');
  t.equal((await ls('--org', 'acme', '--space', 'dev', '--app', 'shop')).length, 2, 'shop, not shop2');
  t.same((await ls('--app', 'shop2')).map((c) => c.app), ['shop2']);
  t.same((await ls('--org', 'other')).map((c) => c.org), ['other']);
  t.same((await ls('--instance', '1')).map((c) => c.crash), [newest]);
  t.same((await ls('--limit', '1')).map((c) => c.crash), [newest]);
  t.same(await ls('--org', 'acme', '--space', 'nope'), []);
});

t.test('ls lists the narrowest key prefix the filters name', async (t) => {
  // The real file store, with each List it is asked for recorded.
  const store = createFileStore({ kind: 'file', root, prefix: '', source: 'test' });
  const listed: string[] = [];
  const recording = { ...store, list: (prefix: string) => { listed.push(prefix); return store.list(prefix); } };
  t.equal((await listCrashes(recording, '', { org: 'acme', space: 'dev', app: 'shop' })).length, 2);
  t.equal((await listCrashes(recording, '', { org: 'acme', app: 'shop' })).length, 2, 'app without space: filtered after listing acme/');
  t.equal((await listCrashes(recording, '', {})).length, 4);
  t.same(listed, ['acme/dev/shop/', 'acme/', '']);

  // With --since and the whole app named: one List per day folder, through tomorrow (clock skew).
  const app = { org: 'acme', space: 'dev', app: 'shop' };
  const now = new Date('2026-11-30T12:00:00Z');
  t.same(crashListPrefixes('prod', { ...app, since: new Date('2026-11-29T10:00:00Z') }, now),
    ['prod/acme/dev/shop/2026-11-29/', 'prod/acme/dev/shop/2026-11-30/', 'prod/acme/dev/shop/2026-12-01/']);
  t.same(crashListPrefixes('prod', { ...app, since: new Date('2026-01-01T00:00:00Z') }, now), ['prod/acme/dev/shop/'], 'a long span: the app prefix once');
  t.same(crashListPrefixes('', { org: 'acme', since: new Date('2026-11-29T10:00:00Z') }, now), ['acme/']);
  listed.length = 0;
  const since = new Date(Date.now() - 2 * 24 * 3600 * 1000);
  await listCrashes(recording, '', { ...app, since });
  t.same(listed, crashListPrefixes('', { ...app, since }, new Date()), 'listCrashes lists those day folders');
  t.ok(listed.length >= 3 && listed.every((p) => /^acme\/dev\/shop\/\d{4}-\d{2}-\d{2}\/$/.test(p)));
});

t.test('show: OOM message, JVM flags, histogram top and log tail, read defensively', async (t) => {
  const r = await cli('show', oom);
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /^oom {8}Java heap: Java heap space$/m);
  t.match(r.stdout, /^hint {7}the heap is bounded by -Xmx/m);
  t.match(r.stdout, /^JAVA_TOOL_OPTIONS {2}-Xmx32m -XX:\+HeapDumpOnOutOfMemoryError$/m);
  t.match(r.stdout, /heap histogram of heap\.hprof\.gz \(top 2; all in histogram\.json\):\n +1\. +27\.66 MiB +123456 {2}com\.example\.Leak\n/, 'Leak on top, the malformed row left out');
  t.equal(r.stdout.match(/heap histogram of/g)?.length, 1, 'the histogram is shown once');
  t.match(r.stdout, /log tail, last 20 lines:\n {2}\| app line 12\n/);
  t.match(r.stdout, /\| escape \\x1b\[2J here$/, 'log text is data, not terminal commands');
  t.notMatch(r.stdout, /app line 11\n/);
  const short = await cli('show', oom, '--tail', '2');
  t.match(short.stdout, /log tail, last 2 lines:\n {2}\| app line 30\n {2}\| escape/);
  const plain = await cli('show', newest);
  t.equal(plain.exitCode, 0, 'no histogram in the report: fine');
  t.notMatch(plain.stdout, /heap histogram/);
  t.notMatch((await cli('show', oom, '--tail', '0')).stdout, /log tail/);
});

t.test('get writes report.json and the artifacts; --keep-compressed keeps .gz as stored', async (t) => {
  const out = path.join(await tempDir('pm-cli-get-'), 'crash');
  const get = await cli('get', oom, '--out', out);
  t.equal(get.exitCode, 0, get.stdout + get.stderr);
  t.same((await readdir(out)).sort(), ['heap.hprof', 'log-tail.txt', 'report.json']);
  t.equal(await readFile(path.join(out, 'report.json'), 'utf8'), await readFile(path.join(root, oom, 'report.json'), 'utf8'), 'the report as stored');
  t.ok((await readFile(path.join(out, 'heap.hprof'))).equals(HPROF), 'decompressed');

  const kept = path.join(await tempDir('pm-cli-get-'), 'crash');
  const keep = await cli('get', oom, '--out', kept, '--keep-compressed');
  t.equal(keep.exitCode, 0, keep.stdout + keep.stderr);
  t.same((await readdir(kept)).sort(), ['heap.hprof.gz', 'log-tail.txt', 'report.json']);
  t.ok((await readFile(path.join(kept, 'heap.hprof.gz'))).equals(await readFile(path.join(root, oom, 'heap.hprof.gz'))), 'the stored bytes');
});

t.test('verify and get: exit 3 when the evidence does not match, 1 when writing fails', async (t) => {
  const crash = await plantFile({ time: '2026-11-26T10:00:00Z', app: 'tampered' });
  t.equal((await cli('verify', crash)).exitCode, 0);
  // A heap dump replaced by other gzip bytes: decompresses fine, the hashes differ.
  await writeFile(path.join(root, crash, 'heap.hprof.gz'), gzipSync(Buffer.from('JAVA PROFILE 1.0.2\0 other')));
  const verify = await cli('verify', crash);
  t.equal(verify.exitCode, 3);
  t.match(verify.stdout, /^FAIL heap\.hprof\.gz: stored size/m);
  t.match(verify.stdout, /^ok {3}log-tail\.txt/m);
  const get = await cli('get', crash, '--out', await tempDir('pm-cli-get-'));
  t.equal(get.exitCode, 3);
  await writeFile(path.join(root, crash, 'heap.hprof.gz'), 'not gzip at all');
  t.equal((await cli('verify', crash)).exitCode, 3, 'bytes that do not decompress: a verdict too');

  const out = await tempDir('pm-cli-get-');
  await writeFile(path.join(out, 'log-tail.txt'), 'mine\n');
  const blocked = await cli('get', oom, '--out', out);
  t.equal(blocked.exitCode, 1, 'a file in the way is a failure, not a verdict on the evidence');
  t.match(blocked.stdout, /FAIL log-tail\.txt: not saved: .* already exists/);
  t.equal((await cli('show', 'acme/dev/shop/2026-11-30/20261130T000000Z-0-nope')).exitCode, 1, 'unknown crash: failure');
});

t.test('config prints the resolved settings, secrets masked', async (t) => {
  const env = {
    ...bareEnv(), POSTMORTEM_STORE: 's3://dumps/prod', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE1', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCY',
    POSTMORTEM_POST_STOP: 'curl -fsS https://hook:hunter2hunter2@hooks.example.com/x', POSTMORTEM_GRACE: '45s',
  };
  const r = await run(env, 'config');
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, /^store\.bucket +dumps$/m);
  t.match(r.stdout, /^store\.prefix +prod$/m);
  t.match(r.stdout, /^graceMs +45000$/m);
  t.match(r.stdout, /^store\.credentials\.secretAccessKey +\*\*\*$/m);
  t.match(r.stdout, /^postStopCommand +curl -fsS https:\/\/hook:\*\*\*@hooks\.example\.com\/x$/m);
  t.notMatch(r.stdout, /wJalrXUtnFEMI|hunter2/, 'no secret anywhere');
  const json = JSON.parse((await run(env, 'config', '--json')).stdout);
  t.equal(json.settings.store.credentials.secretAccessKey, '***');
  t.equal(json.settings.store.credentials.accessKeyId, 'AKIDEXAMPLE1', 'the key id names the credentials');
  const bad = await run({ ...env, POSTMORTEM_GRACE: 'forever' }, 'config');
  t.equal(bad.exitCode, 1);
  t.match(bad.stderr, /POSTMORTEM_GRACE/);
  const flags = await run(bareEnv(), 'config', '--json', '--store', 's3://bkt/p', '--region', 'eu-west-9', '--endpoint', 'https://rgw.example.com', '--profile', 'me');
  t.equal(flags.exitCode, 0, flags.stderr);
  t.match(JSON.parse(flags.stdout).settings.store, { bucket: 'bkt', prefix: 'p', region: 'eu-west-9', endpoint: 'https://rgw.example.com', profile: 'me' }, 'the flags feed the same settings');
});

t.test('S3: --endpoint/--region/--profile like aws, ls by prefix, url and open', async (t) => {
  const store = await testStore(t, 'cli');
  const plantS3 = async (spec: CrashSpec) => {
    const { crash, objects } = crashObjects('prod', spec);
    for (const [key, body] of objects) await store.client.send(new PutObjectCommand({ Bucket: store.bucket, Key: key, Body: body }));
    return crash;
  };
  const crash = await plantS3({ time: '2026-11-30T10:00:00Z', histogram: true });
  await plantS3({ time: '2026-11-29T10:00:00Z', app: 'shop2' });
  const keys = { AWS_ACCESS_KEY_ID: store.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: store.s3.secretAccessKey };
  const env = { ...bareEnv(), ...keys, HOME: await tempDir('pm-cli-home-') };
  const s3 = (...args: string[]) => run(env, ...args, '--store', `s3://${store.bucket}/prod`, '--endpoint', store.s3.endpoint, '--region', store.s3.region);

  const ls = await s3('ls', '--json', '--org', 'acme', '--space', 'dev', '--app', 'shop');
  t.equal(ls.exitCode, 0, ls.stderr);
  t.same(JSON.parse(ls.stdout).map((c: { crash: string }) => c.crash), [crash]);
  t.match(ls.stderr, new RegExp(`listing s3://${store.bucket}/prod`));
  t.match((await s3('show', crash)).stdout, /com\.example\.Leak/);

  const missing = await s3('open', crash);
  t.equal(missing.exitCode, 1);
  t.match(missing.stderr, new RegExp(`${crash}/index\\.html is not in the store`));
  t.equal(missing.stdout, '');
  const page = '<!doctype html><title>crash</title>';
  await store.client.send(new PutObjectCommand({ Bucket: store.bucket, Key: `${crash}/index.html`, Body: page, ContentType: 'text/html' }));
  const open = await s3('open', crash, '--expires', '5m');
  t.equal(open.exitCode, 0, open.stderr);
  t.match(open.stdout, /X-Amz-Expires=300/);
  t.equal(await (await fetch(open.stdout.trim())).text(), page, 'the link serves the page without credentials');

  const url = await s3('url', crash, '--json');
  const heap = (JSON.parse(url.stdout) as { name: string; url: string }[]).find((u) => u.name === 'heap.hprof.gz')!;
  t.equal(sha256(Buffer.from(await (await fetch(heap.url)).arrayBuffer())), sha256(gzipSync(HPROF)));

  // --profile: the named profile's keys, over keys in the environment (which are wrong here).
  const credentials = path.join(env.HOME, 'credentials');
  await writeFile(credentials, `[rgw]\naws_access_key_id = ${keys.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${keys.AWS_SECRET_ACCESS_KEY}\n`);
  const profiled = { ...env, AWS_ACCESS_KEY_ID: 'wrong-key', AWS_SECRET_ACCESS_KEY: 'wrong-secret', AWS_SHARED_CREDENTIALS_FILE: credentials, AWS_CONFIG_FILE: path.join(env.HOME, 'none') };
  const base = ['--store', `s3://${store.bucket}/prod`, '--endpoint', store.s3.endpoint, '--region', store.s3.region];
  const withProfile = await run(profiled, 'verify', crash, ...base, '--profile', 'rgw');
  t.equal(withProfile.exitCode, 0, withProfile.stdout + withProfile.stderr);
  const withoutProfile = await run(profiled, 'verify', crash, ...base);
  t.equal(withoutProfile.exitCode, 1, 'the wrong keys are refused by the store');
});
