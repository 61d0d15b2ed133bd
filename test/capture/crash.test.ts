// A crash's evidence against a real local folder store: progress lines for long uploads,
// the report written last, and a failed artifact never claimed by the report.
import t from 'tap';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Crash } from '../../src/capture/crash.ts';
import { parseConfig } from '../../src/config/parse.ts';
import { createFileStore } from '../../src/store/file-store.ts';
import { memoryEventLog } from '../../src/util/event-log.ts';
import { classifyDeath } from '../../src/watchdog/death.ts';
import { localReportPath, progressLine, uploadBudget, whereItIs } from '../../src/capture/crash.ts';
import { tempDir } from '../support/temp.ts';

async function setup(storeRoot?: string) {
  const dir = await tempDir('pm-crash-');
  const root = storeRoot ?? path.join(dir, 'store');
  const { config } = parseConfig({ POSTMORTEM_STORE: `file://${root}`, TMPDIR: dir, CF_INSTANCE_INDEX: '2', VCAP_APPLICATION: JSON.stringify({ application_name: 'shop', space_name: 's', organization_name: 'o' }) });
  const log = memoryEventLog();
  const store = createFileStore({ kind: 'file', root, prefix: '', source: 'test' });
  const crash = new Crash({ config, store: async () => store, log, now: () => new Date('2026-11-27T10:00:00Z'), buildpackVersion: 't', startedAt: new Date('2026-11-27T09:00:00Z'), progressEveryMs: 40 }, 'oom');
  return { dir, root, log, crash, config };
}

async function* slowly(parts: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < parts; i++) { await sleep(30); yield Buffer.alloc(64 * 1024, i); }
}

t.test('long uploads log progress; the report lists what is stored, and the local copy is freed', async (t) => {
  const { dir, root, log, crash } = await setup();
  const local = path.join(dir, 'java_pid9.hprof');
  await writeFile(local, 'x');
  crash.add({ name: 'heap.hprof', source: Readable.from(slowly(10)), contentType: 'application/octet-stream', encoding: 'compress', gzipLevel: 1 }, { localPath: local, totalBytes: async () => 10 * 64 * 1024 });
  const report = await crash.finish({ death: classifyDeath({ exitCode: 1, stopRequested: false, outOfMemory: true, fatalError: false }), logTail: Buffer.from('last words\n') });
  t.ok(log.lines.some((l) => /uploading heap\.hprof: .* read of 640 KiB \(\d+%\), .* stored, .*\/s, about \d+ s left/.test(l)), `progress line with %, rate and ETA: ${log.lines.find((l) => l.includes('uploading'))}`);
  t.equal(crash.prefix, 'o/s/shop/2026-11-27/20261127T100000Z-2-oom');
  t.same(report!.artifacts.map((a) => a.name), ['heap.hprof.gz', 'log-tail.txt']);
  t.equal(report!.artifacts[0]!.size, 10 * 64 * 1024);
  const onDisk = JSON.parse(await readFile(path.join(root, crash.prefix, 'report.json'), 'utf8'));
  t.same(onDisk, JSON.parse(JSON.stringify(report)));
  await t.rejects(stat(local), 'the local dump is deleted once stored');
});

t.test('a failed artifact is logged with where it still is, and not claimed by the report', async (t) => {
  const { dir, log, crash } = await setup();
  const local = path.join(dir, 'java_pid9.hprof');
  await writeFile(local, 'x');
  const broken = new Readable({ read() { this.destroy(new Error('disk read error')); } });
  crash.add({ name: 'heap.hprof', source: broken, contentType: 'application/octet-stream', encoding: 'raw' }, { localPath: local });
  const report = await crash.finish({});
  t.same(report!.artifacts.map((a) => a.name), []);
  t.equal(report!.failed[0]!.name, 'heap.hprof');
  t.equal(report!.failed[0]!.localPath, local);
  t.ok(log.lines.some((l) => l.includes(`it is still at ${local}`)), 'log says where the evidence still is');
  t.ok(await stat(local), 'the local copy is kept');
});

t.test('a failed upload of a punched dump: the log names the bytes lost with the upload and where the rest is', async (t) => {
  const file = '/dumps/java_pid9.hprof';
  t.equal(whereItIs(file, undefined), `it is still at ${file} in this container until it is deleted`);
  t.equal(whereItIs(file, { peakAllocated: 1, punched: 0 }), `it is still at ${file} in this container until it is deleted`);
  t.equal(whereItIs(file, { peakAllocated: 1, punched: 16 << 20 }),
    `its first 16 MiB (bytes 0-16777215) were punched out behind the upload and are LOST with it (POSTMORTEM_PUNCH_HOLES=false keeps them); the rest, from byte 16777216 on, is still at ${file} in this container until it is deleted`);
  // A punch still running when the upload failed: its range is named as maybe gone, never as there.
  t.equal(whereItIs(file, { peakAllocated: 1, punched: 16 << 20, punchingTo: 32 << 20 }),
    `its first 16 MiB (bytes 0-16777215) were punched out behind the upload and are LOST with it; bytes 16777216-33554431 may be lost too (a punch was under way) (POSTMORTEM_PUNCH_HOLES=false keeps them); the rest, from byte 33554432 on, is still at ${file} in this container until it is deleted`);
  t.match(whereItIs(file, { peakAllocated: 1, punched: 0, punchingTo: 16 << 20 }), /^bytes 0-16777215 may be lost \(a punch was under way\) \(POSTMORTEM_PUNCH_HOLES=false keeps them\); the rest, from byte 16777216 on, is still at /);
});

t.test('a stop requested during the uploads: the time left is the stop\'s, when it comes first', async (t) => {
  let stopLeft: number | undefined;
  const budget = uploadBudget({ uploadTimeoutMs: 900_000 }, Date.now, { uploadsLeft: () => stopLeft });
  t.ok(budget.uploads.left() > 800_000, 'no stop: the upload timeout less the report reserve');
  stopLeft = 7_800;
  t.equal(budget.uploads.left(), 7_800, 'a stop: its own time to abandon the uploads');
  t.ok(uploadBudget({ uploadTimeoutMs: 4_000 }, Date.now, { uploadsLeft: () => 7_800 }).uploads.left() <= 3_000, 'the sooner of the two');
});

t.test('a stalled upload says nothing moves, with no made-up estimate', async (t) => {
  const line = progressLine('heap.hprof', { contentBytes: 0, storedBytes: 0 }, { at: 0, bytes: 0 }, 5000, 8_843_264, 3000);
  t.equal(line, 'uploading heap.hprof: nothing moved in the last 5 s; 0 B read of 8.43 MiB (0%), 0 B stored; abandoned in 3 s unless done');
  const moving = progressLine('core', { contentBytes: 3 << 20, storedBytes: 1 << 20 }, { at: 0, bytes: 1 << 20 }, 2000, 5 << 20, undefined);
  t.match(moving, /^uploading core: 3 MiB read of 5 MiB \(60%\), 1 MiB stored, 1 MiB\/s, about 2 s left$/);
});

t.test('an upload past the deadline: the report is written in progress first, then final naming it abandoned', async (t) => {
  const { log, crash, config } = await setup();
  const stuck = new Readable({ read() { /* a source that never delivers */ } });
  crash.add({ name: 'heap.hprof', source: stuck, contentType: 'application/octet-stream', encoding: 'raw' });
  const seen: string[] = [];
  const watcher = setInterval(() => { void readFile(localReportPath(config), 'utf8').then((text) => { const state = (JSON.parse(text) as { state: string; pending: string[] }); seen.push(`${state.state}:${state.pending.join(',')}`); }, () => undefined); }, 20);
  t.teardown(() => clearInterval(watcher));
  // 3 s: the stuck upload is what runs out of time; the log tail (first, on a loaded machine a
  // lazy load of the upload path) must still fit in what is left.
  const report = await crash.finish({ logTail: Buffer.from('bye\n') }, uploadBudget({ uploadTimeoutMs: 3000 }, Date.now));
  clearInterval(watcher);
  t.ok(seen.includes('in-progress:heap.hprof'), `the in-progress report named the pending upload (${[...new Set(seen)].join(' ')})`);
  t.equal(report!.state, 'final');
  t.same(report!.pending, []);
  t.match(report!.failed, [{ name: 'heap.hprof' }]);
  t.same(report!.artifacts.map((a) => a.name), ['log-tail.txt'], 'the log tail still went in');
  t.match(log.lines.join('\n'), /abandoning heap\.hprof: POSTMORTEM_UPLOAD_TIMEOUT \(3 s\) nearly reached/);
  t.same(JSON.parse(await readFile(localReportPath(config), 'utf8')), JSON.parse(JSON.stringify(report)), 'the local copy is the final report');
});
