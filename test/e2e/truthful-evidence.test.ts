// A dump that is cut short is stored, but never called complete: a disk that fills while the
// JVM writes its dump (a real tmpfs mounted as the dump folder) and a JVM SIGKILLed while its
// dump grows, both launched as Cloud Foundry does. What landed in the store is read with a
// plain S3 client and gunzipped here, not with our code; `postmortem verify` must agree.
import t from 'tap';
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { constants as zlib, gunzipSync } from 'node:zlib';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { BUILDPACK_DIR, launch, stage } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { testStore } from '../support/test-store.ts';
import { tempDir } from '../support/temp.ts';

const store = await testStore(t, 'truthful');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** The last record of a whole hprof: HEAP DUMP END (tag 0x2c, time 0, length 0). */
const HPROF_END = Buffer.from('2c0000000000000000', 'hex');

interface StoredHeap { report: Record<string, any>; heap: Record<string, any>; object: Buffer; crash: string }

async function storedHeap(prefix: string): Promise<StoredHeap> {
  const listing = await store.client.send(new ListObjectsV2Command({ Bucket: store.bucket, Prefix: `${prefix}/` }));
  const reportKey = (listing.Contents ?? []).map((o) => o.Key!).find((k) => k.endsWith('/report.json'));
  if (!reportKey) throw new Error(`no report.json under ${prefix}/`);
  const report = JSON.parse((await store.get(reportKey)).toString('utf8'));
  const heap = report.artifacts.find((a: { name: string }) => a.name.startsWith('heap.hprof'));
  if (!heap) throw new Error(`no heap dump in the report: ${JSON.stringify(report)}`);
  return { report, heap, object: await store.get(heap.key), crash: reportKey.replace(/\/report\.json$/, '') };
}

const cli = (prefix: string, ...args: string[]) =>
  execa(path.join(BUILDPACK_DIR, 'bin/postmortem'), args, { env: { ...process.env, ...store.env(prefix) }, reject: false });

/** What a plain gunzip gets out of a possibly truncated gzip, and whether the stream was whole. */
function plainGunzip(object: Buffer): { content: Buffer; whole: boolean } {
  try {
    return { content: gunzipSync(object), whole: true };
  } catch {
    return { content: gunzipSync(object, { finishFlush: zlib.Z_SYNC_FLUSH }), whole: false };
  }
}

t.test('a disk that fills while the JVM writes its dump: stored as incomplete, with the JVM\'s reason', async (t) => {
  const dumpDir = await tempDir('pm-tmpfs-');
  // 1 MiB: the JVM's gzip of a 48 MiB heap of this app is ~1.4 MiB, so the disk fills mid-dump.
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dumpDir]);
  t.teardown(() => execa('umount', ['-l', dumpDir], { reject: false }).then(() => undefined));
  const env = { ...store.env('full'), POSTMORTEM_DUMP_DIR: dumpDir, POSTMORTEM_GRACE: '0s' };
  const droplet = await stage({ appDir: await javaApp('Oom'), env });
  const app = launch(droplet, { command: 'java -Xmx48m -XX:-UsePerfData -cp . Oom', env });
  const result = await app.process;
  const output = app.output();
  t.equal(result.exitCode, 1, 'the JVM\'s own status');
  t.match(output, /Dump file is incomplete: No space left on device/, 'the JVM said so');
  t.match(output, /\[postmortem\] WARNING: stored INCOMPLETE heap\.hprof\.gz \(the JVM said "Dump file is incomplete: No space left on device"/);
  t.notMatch(output, /\[postmortem\] stored heap\.hprof/, 'never logged as plainly stored');

  const { report, heap, object, crash } = await storedHeap('full');
  t.equal(heap.complete, false, 'the report says incomplete');
  t.match(heap.incompleteReason, /No space left on device/);
  t.equal(sha256(object), heap.storedSha256, 'the stored bytes are what the watchdog says it stored');
  const { content, whole } = plainGunzip(object);
  t.notOk(whole && content.subarray(-HPROF_END.length).equals(HPROF_END), 'what is stored is indeed cut short');
  t.equal(content.subarray(0, 18).toString('latin1'), 'JAVA PROFILE 1.0.2', 'what there is, is a heap dump');
  t.notOk(report.artifacts.some((a: { complete: boolean; name: string }) => a.name === 'log-tail.txt' && !a.complete), 'other artifacts are complete');

  const verify = await cli('full', 'verify', crash);
  t.equal(verify.exitCode, 3, 'verify does not call it ok: verification failed');
  t.match(verify.stdout, /^INCOMPLETE heap\.hprof\.gz: stored as incomplete by the watchdog: .*No space left on device/m, 'verify agrees with the watchdog');
  t.match(verify.stdout, /^ok {3}log-tail\.txt/m);
});

t.test('a JVM killed while its dump grows: stored as incomplete, never as created', async (t) => {
  const dumpDir = await tempDir('pm-killed-');
  const env = { ...store.env('killed'), POSTMORTEM_DUMP_DIR: dumpDir, POSTMORTEM_GRACE: '0s' };
  const droplet = await stage({ appDir: await javaApp('Oom'), env });
  // A 1 GiB heap takes the JVM a few seconds to dump: long enough to kill it half-way.
  const app = launch(droplet, { command: 'java -Xmx1g -XX:-UsePerfData -cp . Oom', env });
  await app.waitFor(/Dumping heap to/, 120_000);
  let victim: { pid: number; file: string } | undefined;
  const deadline = Date.now() + 30_000;
  while (!victim && Date.now() < deadline) {
    for (const dir of (await readdir(dumpDir)).filter((d) => d.startsWith('jvm-'))) {
      for (const name of await readdir(path.join(dumpDir, dir))) {
        const m = /^java_pid(\d+)\.hprof/.exec(name);
        const file = path.join(dumpDir, dir, name);
        if (m && (await stat(file).catch(() => undefined))?.size) victim = { pid: Number(m[1]), file };
      }
    }
    if (!victim) await new Promise((r) => setTimeout(r, 10));
  }
  if (!victim) throw new Error(`the dump never appeared:\n${app.output()}`);
  process.kill(victim.pid, 'SIGKILL');
  const result = await app.process;
  const output = app.output();
  t.equal(result.exitCode, 137, 'killed by SIGKILL: 128 + 9');
  // The precondition of this test: the JVM did not finish before the kill.
  t.notMatch(output, /^Heap dump file created/m, 'killed before the JVM finished its dump');
  t.match(output, /\[postmortem\] WARNING: stored INCOMPLETE heap\.hprof(\.gz)? \(the JVM exited before it said the heap dump was created/);
  t.notMatch(output, /\[postmortem\] stored heap\.hprof/);

  const { heap, object, crash } = await storedHeap('killed');
  t.equal(heap.complete, false);
  t.match(heap.incompleteReason, /exited before it said the heap dump was created/);
  t.equal(sha256(object), heap.storedSha256);
  const content = heap.compression === 'gzip' ? plainGunzip(object).content : object;
  t.notOk(content.subarray(-HPROF_END.length).equals(HPROF_END), 'the stored dump has no HEAP DUMP END record: it is cut short');

  const heapLine = (await cli('killed', 'show', crash)).stdout.split('\n').find((l) => l.includes('heap.hprof'));
  t.match(heapLine, /INCOMPLETE \(the JVM exited before/, 'show says incomplete');
  t.notMatch(heapLine, /verified/, 'and never verified');
  const verify = await cli('killed', 'verify', crash);
  t.equal(verify.exitCode, 3);
  t.match(verify.stdout, /^INCOMPLETE heap\.hprof(\.gz)?: stored as incomplete by the watchdog: the JVM exited before/m);
  const out = await tempDir('pm-get-killed-');
  const get = await cli('killed', 'get', crash, '--out', out);
  t.equal(get.exitCode, 3, 'get says it is incomplete');
  const saved = await stat(path.join(out, 'heap.hprof')).catch(() => undefined);
  t.ok(saved && saved.size > 0, 'what there is of the dump is still downloaded');
});

t.test('a whole dump is complete in the report and ends with HEAP DUMP END', async (t) => {
  const env = { ...store.env('whole'), POSTMORTEM_GRACE: '0s' };
  const droplet = await stage({ appDir: await javaApp('Oom'), env });
  const app = launch(droplet, { command: 'java -Xmx32m -XX:-UsePerfData -cp . Oom', env });
  await app.process;
  t.match(app.output(), /\[postmortem\] stored heap\.hprof/);
  const { heap, object, crash } = await storedHeap('whole');
  t.equal(heap.complete, true);
  const content = heap.compression === 'gzip' ? gunzipSync(object) : object;
  t.ok(content.subarray(-HPROF_END.length).equals(HPROF_END), 'a whole hprof');
  t.equal((await cli('whole', 'verify', crash)).exitCode, 0);
});
