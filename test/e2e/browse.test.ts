// People find and fetch what a crash left behind: the postmortem CLI (ls, show, get,
// verify, url) and standard tools (aws s3, rclone) against a crash the watchdog uploaded.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { BUILDPACK_DIR, launch, stage } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { testStore } from '../support/test-store.ts';
import { tempDir } from '../support/temp.ts';
import { unlessMissing } from '../support/requirements.ts';

const store = await testStore(t, 'browse');
const { s3, bucket, client } = store;
const env = store.env('prod');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// One real crash to browse.
const droplet = await stage({ appDir: await javaApp('Oom'), env });
const crashed = launch(droplet, { command: 'java -Xmx32m -XX:-UsePerfData -cp . Oom', env: { ...env, POSTMORTEM_GRACE: '0s' } });
await crashed.process;

const cli = (...args: string[]) => execa(path.join(BUILDPACK_DIR, 'bin/postmortem'), args, { env: { ...process.env, ...env }, reject: false });

t.test('ls, show, get, verify and url find and fetch the crash', async (t) => {
  const ls = await cli('ls', '--json', '--app', 'crashy', '--since', '1h');
  t.equal(ls.exitCode, 0, ls.stderr);
  const crashes = JSON.parse(ls.stdout);
  t.equal(crashes.length, 1);
  t.equal(crashes[0].reason, 'oom');
  const crash = crashes[0].crash as string;
  t.same(JSON.parse((await cli('ls', '--json', '--reason', 'exit')).stdout), [], 'filter by reason');
  t.match((await cli('ls')).stdout, new RegExp(`crashy\\s+0\\s+oom\\s+5\\s+.*${crash}`), 'table: heap dump, histogram, log tail, report and page');

  const show = await cli('show', crash, '--json');
  const report = JSON.parse(show.stdout);
  t.equal(report.crash, crash);
  t.match((await cli('show', crash)).stdout, /reason\s+oom: ran out of Java heap/);

  const out = await tempDir('pm-get-');
  const get = await cli('get', `s3://${bucket}/${crash}/`, '--out', out);
  t.equal(get.exitCode, 0, get.stdout + get.stderr);
  const heap = report.artifacts.find((a: { name: string }) => a.name.startsWith('heap.hprof'));
  const downloaded = await readFile(path.join(out, 'heap.hprof'));
  t.equal(sha256(downloaded), heap.sha256, 'get decompressed and verified the heap dump');
  t.equal(downloaded.subarray(0, 18).toString('latin1'), 'JAVA PROFILE 1.0.2');
  t.same(JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')), report, 'get puts the report beside what it describes');

  t.equal((await cli('verify', crash)).exitCode, 0, 'verify: all ok');

  const url = JSON.parse((await cli('url', crash, '--json', '--expires', '10m')).stdout) as { name: string; url: string }[];
  const link = url.find((u) => u.name === heap.name)!;
  t.match(link.url, /X-Amz-Expires=600/);
  const fetched = Buffer.from(await (await fetch(link.url)).arrayBuffer());
  t.equal(sha256(fetched), heap.storedSha256, 'presigned URL serves the stored object without credentials');

  // Tampering is caught.
  const tail = report.artifacts.find((a: { name: string }) => a.name === 'log-tail.txt');
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: tail.key, Body: 'rewritten history\n' }));
  const verify = await cli('verify', crash);
  t.equal(verify.exitCode, 3, 'verify fails on a changed object: verification failed');
  t.match(verify.stdout, /FAIL log-tail\.txt: stored size/);
  t.equal((await cli('show', 'prod/nope')).exitCode, 1, 'unknown crash: error exit');
  const unknown = await cli('frobnicate', crash);
  t.equal(unknown.exitCode, 2, 'unknown command: usage exit');
  t.match(unknown.stderr, /unknown command 'frobnicate'/);
});

async function have(tool: string): Promise<boolean> {
  return (await execa('bash', ['-c', `command -v ${tool}`], { reject: false })).exitCode === 0;
}
// CI installs them (.ci/run); elsewhere a missing tool skips with a reason, never silently in CI.
const installed = { aws: await have('aws'), rclone: await have('rclone') };
const toolTest = (tool: keyof typeof installed, name: string, fn: (t: Test) => Promise<void>) => {
  return t.test(name, unlessMissing(installed[tool] ? undefined : `${tool} is not installed`), fn);
};

const crashKey = async () => JSON.parse((await cli('ls', '--json')).stdout)[0].crash as string;

toolTest('aws', 'aws s3 ls and cp find and fetch the crash', async (t) => {
  const crash = await crashKey();
  const awsEnv = { ...process.env, ...env, AWS_DEFAULT_REGION: s3.region };
  const ls = await execa('aws', ['--endpoint-url', s3.endpoint, 's3', 'ls', '--recursive', `s3://${bucket}/prod/`], { env: awsEnv });
  t.match(ls.stdout, new RegExp(`${crash}/report\\.json`));
  const out = await tempDir('pm-aws-');
  await execa('aws', ['--endpoint-url', s3.endpoint, 's3', 'cp', '--recursive', `s3://${bucket}/${crash}/`, out], { env: awsEnv });
  const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8'));
  const heap = report.artifacts.find((a: { name: string }) => a.name.startsWith('heap.hprof'));
  const bytes = await readFile(path.join(out, heap.name));
  t.equal(sha256(heap.compression === 'gzip' ? gunzipSync(bytes) : bytes), heap.sha256);
});

toolTest('rclone', 'rclone lists and copies the crash', async (t) => {
  const crash = await crashKey();
  const remote = ':s3:';
  // Debian's rclone 1.60 refuses to start while AWS_CA_BUNDLE is set (PLATFORM.md).
  const { AWS_CA_BUNDLE: _ignored, ...inherited } = process.env;
  const rcloneEnv = {
    ...inherited, RCLONE_S3_PROVIDER: 'Other', RCLONE_S3_ENV_AUTH: 'false', RCLONE_S3_ACCESS_KEY_ID: s3.accessKeyId,
    RCLONE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey, RCLONE_S3_ENDPOINT: s3.endpoint, RCLONE_S3_REGION: s3.region,
  };
  const lsf = await execa('rclone', ['--config', '/dev/null', 'lsf', '-R', `${remote}${bucket}/${crash}`], { env: rcloneEnv, extendEnv: false });
  t.match(lsf.stdout, /report\.json/);
  const out = await tempDir('pm-rclone-');
  await execa('rclone', ['--config', '/dev/null', 'copy', `${remote}${bucket}/${crash}`, out], { env: rcloneEnv, extendEnv: false });
  const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8'));
  const heap = report.artifacts.find((a: { name: string }) => a.name.startsWith('heap.hprof'));
  t.equal(sha256(await readFile(path.join(out, heap.name))), heap.storedSha256);
});
