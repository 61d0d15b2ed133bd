// POSTMORTEM_COMPRESSION=zstd end to end (issue 12): the staged buildpack launched as Cloud
// Foundry does, a real JVM out of heap writing its dump plain, the watchdog on the vendored
// runtime (which has zstd) compressing it into zstd frames on the way to the run's RGW. The
// stored object is checked with zstd(1), not our reader; `postmortem get` restores the dump on
// the vendored runtime (Node's zstd) and on this runner's Node 20 (through the zstd command).
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { BUILDPACK_DIR, launch, stage } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { testStore } from '../support/test-store.ts';
import { tempDir } from '../support/temp.ts';
import { skipOrFailInCi } from '../support/requirements.ts';

const store = await testStore(t, 'zstd-dumps');
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const hasZstdCommand = (await execa('zstd', ['--version'], { reject: false }).catch(() => ({ exitCode: 127 }))).exitCode === 0;

t.test('a JVM OOM with POSTMORTEM_COMPRESSION=zstd: heap.hprof.zst, its content the report\'s sha256, get restores the dump', async (t) => {
  if (!hasZstdCommand) return skipOrFailInCi(t, 'the zstd command is not installed (apt-get install zstd)');
  const env = store.env('zstd');
  const droplet = await stage({ appDir: await javaApp('Oom'), env });
  const app = launch(droplet, { command: 'java -Xmx48m -XX:-UsePerfData -cp . Oom', env: { ...env, POSTMORTEM_GRACE: '0s', POSTMORTEM_COMPRESSION: 'zstd' } });
  const result = await app.process;
  t.equal(result.exitCode, 1, 'the app\'s own status');
  t.match(app.output(), /evidence the watchdog compresses is zstd level 1 \(POSTMORTEM_COMPRESSION=zstd\), stored as \.zst/);
  t.match(app.output(), /heap dumps: written plain by the JVM and compressed by the watchdog/);

  const keys = await store.list('zstd/');
  const reportKey = keys.find((k) => k.endsWith('/report.json'));
  t.ok(reportKey, `report stored (${keys.join(', ')})`);
  const report = JSON.parse((await store.get(reportKey!)).toString('utf8'));
  const heap = report.artifacts.find((a: { name: string }) => a.name.startsWith('heap.hprof'));
  t.match(heap, { name: 'heap.hprof.zst', compression: 'zstd', complete: true, verified: true });

  const object = await store.get(heap.key);
  t.equal(object.subarray(0, 4).toString('hex'), '28b52ffd', 'the stored bytes start with the zstd frame magic');
  t.equal(sha256(object), heap.storedSha256);
  const head = await store.client.send(new HeadObjectCommand({ Bucket: store.bucket, Key: heap.key }));
  t.equal(head.ContentType, 'application/zstd');
  t.equal(head.ContentEncoding, undefined, 'no Content-Encoding: clients must not decompress it on the fly');
  t.equal(head.Metadata?.['stored-encoding'], 'zstd');

  const local = path.join(await tempDir('pm-zstd-'), 'heap.hprof.zst');
  await writeFile(local, object);
  t.equal((await execa('zstd', ['-t', '-q', local], { reject: false })).exitCode, 0, 'zstd -t passes');
  const frames = Number(/Zstandard Frames: (\d+)/.exec((await execa('zstd', ['-lv', local])).stdout)?.[1]);
  t.equal(frames, Math.ceil(heap.size / (1024 * 1024)), 'one frame per 1 MiB block: compressed in parallel');
  const plain = Buffer.from((await execa('zstd', ['-dc', local], { encoding: 'buffer', stripFinalNewline: false })).stdout);
  t.equal(plain.length, heap.size);
  t.equal(sha256(plain), heap.sha256, 'zstd -dc of the stored object hashes to the report\'s sha256');
  t.equal(plain.subarray(0, 18).toString('latin1'), 'JAVA PROFILE 1.0.2', 'a whole hprof');

  const page = (await store.get(`${report.crash}/index.html`)).toString('utf8');
  t.match(page, /heap\.hprof\.zst<\/td><td class="n">[^<]+<\/td><td class="n">[^<]+ zstd<\/td>/, 'the crash page shows the dump as zstd');

  const cli = (node: string | undefined, ...args: string[]) =>
    execa(path.join(BUILDPACK_DIR, 'bin/postmortem'), args, { env: { ...process.env, ...env, ...(node ? { POSTMORTEM_NODE: node } : {}) }, reject: false });
  const vendored = path.join(droplet.depsDir, droplet.depsIdx, 'node/bin/node');
  for (const [label, node] of [['the vendored runtime', vendored], [`this runner's Node.js ${process.version}`, undefined]] as const) {
    const out = await tempDir('pm-zstd-get-');
    const get = await cli(node, 'get', report.crash, '--out', out);
    t.equal(get.exitCode, 0, `get on ${label}: ${get.stdout}${get.stderr}`);
    t.match(get.stdout, /ok\s+heap\.hprof\.zst -> .*\/heap\.hprof\n/);
    t.equal(sha256(await readFile(path.join(out, 'heap.hprof'))), heap.sha256, `get on ${label} restores the plain dump`);
  }
  const kept = await tempDir('pm-zstd-kept-');
  t.equal((await cli(vendored, 'get', report.crash, '--out', kept, '--keep-compressed')).exitCode, 0);
  t.equal(sha256(await readFile(path.join(kept, 'heap.hprof.zst'))), heap.storedSha256, '--keep-compressed keeps the .zst as stored');
  t.equal((await cli(vendored, 'verify', report.crash)).exitCode, 0, 'verify: all ok');
  t.match((await cli(vendored, 'show', report.crash)).stdout, /heap\.hprof\.zst\s+[\d.]+ \w+ stored\s+[\d.]+ \w+ zstd /, 'show lists it as zstd');
});
