// WriterPacing against a real writer: a child process that appends to java_pid<its pid>.hprof
// as fast as a timer lets it. Pausing must really stop it (its state in /proc is T and the file
// stops growing), and every way out must let it go on: the upload catching up, the dump being
// done, a stalled upload, the pause budget, and the watchdog's last resort (resumeAllPaused,
// which runs before any signal to the app and at exit). Most cases feed the disk figures in
// themselves; the last lets watch() sample the real file.
import t, { type Test } from 'tap';
import { execa, type ResultPromise } from 'execa';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WriterPacing, findDumpWriter } from '../../src/capture/writer-pacing.ts';
import { mayPause, pausedCount, releasePausedWriters, resumeAllPaused } from '../../src/util/paused-writers.ts';
import type { EventLog } from '../../src/util/event-log.ts';
import { tempDir } from '../support/temp.ts';

const MiB = 1024 * 1024;

const WRITER = `
const fs = require('node:fs');
const file = require('node:path').join(process.argv[1], 'java_pid' + process.pid + '.hprof');
const fd = fs.openSync(file, 'w');
process.stdout.write(file + '\\n');
const chunk = Buffer.alloc(Number(process.argv[2] || 65536), 7);
setInterval(() => fs.writeSync(fd, chunk), 5);
`;

interface Writer { file: string; pid: number; child: ResultPromise }

async function startWriter(t: Test, bytesPer5ms = 64 * 1024): Promise<Writer> {
  const dir = await tempDir('pm-pacing-');
  const child = execa(process.execPath, ['-e', WRITER, dir, String(bytesPer5ms)], { reject: false });
  t.teardown(() => { try { process.kill(child.pid!, 'SIGCONT'); } catch { /* gone */ } child.kill('SIGKILL'); });
  const file = await new Promise<string>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
  return { file, pid: child.pid!, child };
}

async function stateNow(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

/**
 * The process's state once a signal just sent has landed: a signal is delivered when its
 * target next runs, so a stop shows as T (and a continue as not T) a moment after kill().
 * Resolves with the state seen after at most 2 s of waiting for `expectStopped`.
 */
async function state(pid: number, expectStopped?: boolean): Promise<string> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const now = await stateNow(pid);
    if (expectStopped === undefined || (now === 'T') === expectStopped || Date.now() > deadline) return now;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Whether the file grows over `ms`. */
async function grows(file: string, ms = 150): Promise<boolean> {
  const before = (await stat(file)).size;
  await new Promise((r) => setTimeout(r, ms));
  return (await stat(file)).size > before;
}

function lines(): EventLog & { said: string[] } {
  const said: string[] = [];
  const log = { said, info: (l: string) => said.push(`info ${l}`), warn: (l: string) => said.push(`warn ${l}`), error: (l: string) => said.push(`error ${l}`) };
  return log as unknown as EventLog & { said: string[] };
}

t.test('the writer is the process that has the dump open, and only that one', async (t) => {
  const w = await startWriter(t);
  t.equal(findDumpWriter(w.file), w.pid, 'java_pid<N>.hprof held open by N');
  const other = path.join(path.dirname(w.file), `java_pid${process.pid}.hprof`);
  await writeFile(other, 'x');
  t.equal(findDumpWriter(other), undefined, 'our own pid: never');
  const notHeld = path.join(path.dirname(w.file), 'java_pid1.hprof');
  await writeFile(notHeld, 'x');
  t.equal(findDumpWriter(notHeld), undefined, 'pid 1: never');
  const wrongName = path.join(path.dirname(w.file), 'heap.hprof');
  await writeFile(wrongName, 'x');
  t.equal(findDumpWriter(wrongName), undefined, 'no pid in the name');
  const stranger = execa('sleep', ['30'], { reject: false });
  t.teardown(() => stranger.kill('SIGKILL'));
  const strangers = path.join(path.dirname(w.file), `java_pid${stranger.pid}.hprof`);
  await writeFile(strangers, 'x');
  t.equal(findDumpWriter(strangers), undefined, 'a live process that does not have the file open');
});

t.test('paused at the limit, let go once the upload has caught up', async (t) => {
  const w = await startWriter(t);
  const log = lines();
  const pacing = new WriterPacing({ pid: w.pid, file: w.file, limitBytes: 64 * MiB, progress: () => 0, log });
  pacing.onDisk(63 * MiB);
  t.equal(pacing.paused, false, 'under the limit: runs');
  pacing.onDisk(64 * MiB);
  t.equal(pacing.paused, true);
  t.equal(await state(w.pid, true), 'T', 'SIGSTOPped');
  t.equal(await grows(w.file), false, 'the dump stops growing');
  t.equal(pausedCount(), 1, 'known to the last resort');
  pacing.onDisk(40 * MiB);
  t.equal(pacing.paused, true, 'above the resume mark (half the limit): still waits');
  pacing.onDisk(32 * MiB);
  t.equal(pacing.paused, false, 'caught up: goes on');
  t.not(await state(w.pid, false), 'T');
  t.equal(await grows(w.file), true, 'the dump grows again');
  t.equal(pausedCount(), 0);
  pacing.onDisk(70 * MiB);
  pacing.end();
  t.not(await state(w.pid, false), 'T', 'end() lets a paused writer go');
  pacing.onDisk(100 * MiB);
  t.equal(pacing.paused, false, 'and it is never paused again');
  t.match(pacing.summary, { pauses: 2 });
  t.equal(log.said.length, 1, 'one line, at the first pause');
  t.match(log.said[0], /^info .*java_pid\d+\.hprof is 64 MiB ahead of the upload: its writer \(pid \d+\) waits while the upload catches up, so the dump takes about 64 MiB of disk at most \(POSTMORTEM_DUMP_DISK_LIMIT\)/);
});

t.test('an upload that makes no progress does not hold the writer', async (t) => {
  const w = await startWriter(t);
  const log = lines();
  let handedOn = 0;
  const pacing = new WriterPacing({ pid: w.pid, file: w.file, limitBytes: 64 * MiB, stallMs: 1000, progress: () => handedOn, log });
  const at = async (ms: number, since: number) => { await new Promise((r) => setTimeout(r, Math.max(0, since + ms - Date.now()))); };
  const began = Date.now();
  pacing.onDisk(80 * MiB);
  t.equal(await state(w.pid, true), 'T');
  await at(600, began);
  handedOn += MiB; // the reader moved on
  pacing.onDisk(79 * MiB);
  await at(1200, began);
  pacing.onDisk(79 * MiB);
  t.equal(pacing.paused, true, 'progress 600 ms ago keeps the pause (1.2 s after it began)');
  await at(1700, began);
  pacing.onDisk(79 * MiB);
  t.equal(pacing.paused, false, 'no progress for over 1 s: let go');
  t.not(await state(w.pid, false), 'T');
  t.match(log.said.at(-1), /^warn .*its writer \(pid \d+\) is no longer paused for the upload \(the upload made no progress for 1 s\); the rest of the dump may take more disk/);
  pacing.onDisk(200 * MiB);
  t.equal(pacing.paused, false, 'given up for good');
  t.match(pacing.summary, { pauses: 1, gaveUp: 'the upload made no progress for 1 s' });
});

t.test('pauses add up to the budget at most', async (t) => {
  const w = await startWriter(t);
  const log = lines();
  let handedOn = 0;
  const progress = () => (handedOn += MiB); // always moving: only the budget ends it
  const pacing = new WriterPacing({ pid: w.pid, file: w.file, limitBytes: 64 * MiB, maxPausedMs: 400, stallMs: 10_000, progress, log });
  pacing.onDisk(64 * MiB);
  await new Promise((r) => setTimeout(r, 250));
  pacing.onDisk(10 * MiB); // ~250 ms spent
  pacing.onDisk(64 * MiB); // ~150 ms left
  t.equal(pacing.paused, true);
  await new Promise((r) => setTimeout(r, 300));
  pacing.onDisk(64 * MiB);
  t.equal(pacing.paused, false, 'the budget ran out mid-pause: let go');
  t.not(await state(w.pid, false), 'T');
  t.match(log.said.at(-1), /its pauses reached 0\.4 s, the most a dump is held up/);
  const { pausedMs } = pacing.summary;
  t.ok(pausedMs >= 400 && pausedMs < 900, `${pausedMs} ms paused in all`);
  pacing.onDisk(64 * MiB);
  t.equal(pacing.paused, false, 'and not paused again');
});

t.test('watch(): the real file sampled on a clock, the writer paused near the limit', async (t) => {
  const w = await startWriter(t, MiB); // ~200 MB/s: the limit is reached within a second
  const log = lines();
  const pacing = new WriterPacing({ pid: w.pid, file: w.file, limitBytes: 64 * MiB, stallMs: 800, progress: () => 0, log }).watch();
  t.teardown(() => pacing.end());
  const deadline = Date.now() + 5000;
  while (!pacing.paused && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.equal(pacing.paused, true, 'paused without anyone feeding it figures');
  t.equal(await state(w.pid, true), 'T');
  const held = (await stat(w.file)).blocks * 512;
  t.ok(held >= 64 * MiB && held < 64 * MiB + 32 * MiB, `${(held / MiB).toFixed(1)} MiB on disk when paused (limit 64 MiB, one ~20 ms sample late at most)`);
  // Nothing is read here, so the upload "stalls" and the writer goes on by itself.
  const until = Date.now() + 5000;
  while (pacing.paused && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  t.equal(pacing.paused, false, 'let go once nothing moved for 800 ms');
  t.not(await state(w.pid, false), 'T');
  t.equal(await grows(w.file), true, 'the writer writes on');
});

t.test('held from the start until the upload reads, then paced at the limit; a hold with no read ends after its bound and the limit paces on', async (t) => {
  const w = await startWriter(t, MiB);
  const log = lines();
  let handedOn = 0;
  const pacing = new WriterPacing({ pid: w.pid, file: w.file, limitBytes: 64 * MiB, stallMs: 800, progress: () => handedOn, holdUntilFollowing: true, holdMs: 10_000, log }).watch();
  t.teardown(() => pacing.end());
  t.equal(await state(w.pid, true), 'T', 'stopped at once, before it wrote anything near the limit');
  t.match(log.said[0], /^info .*java_pid\d+\.hprof: its writer \(pid \d+\) waits for the upload to start \(10 s at most\), then no more than 64 MiB ahead of it \(POSTMORTEM_DUMP_DISK_LIMIT\)$/);
  t.equal(await grows(w.file, 300), false, 'the file does not grow while the upload has not started (the disk is far under the limit)');
  t.equal(pacing.paused, true, 'still held: a small file alone does not let it go');
  handedOn = 256 * 1024; // the reader's first chunk
  const until = Date.now() + 2000;
  while (pacing.paused && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  t.equal(pacing.paused, false, 'let go once the upload has read');
  t.not(await state(w.pid, false), 'T');
  // From here it is the limit that pauses it (nothing more is read: the stall rule ends that pause).
  const deadline = Date.now() + 5000;
  while (!pacing.paused && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  t.equal(pacing.paused, true, 'paused again at the limit');
  t.match(log.said[1], /is [\d.]+ MiB ahead of the upload: its writer \(pid \d+\) waits while the upload catches up/, 'with the usual line');
  t.equal(pacing.summary.pauses, 2);

  // A hold whose upload never reads: after holdMs the writer goes on and the limit paces it
  // (it is not given up: on a busy machine the upload's first start can take seconds); that
  // pause, with still nothing read, ends by the stall rule as any other.
  const w2 = await startWriter(t, MiB);
  const log2 = lines();
  const began = Date.now();
  const stuck = new WriterPacing({ pid: w2.pid, file: w2.file, limitBytes: 64 * MiB, stallMs: 500, progress: () => 0, holdUntilFollowing: true, holdMs: 400, log: log2 }).watch();
  t.teardown(() => stuck.end());
  t.equal(await state(w2.pid, true), 'T');
  while (stuck.paused && Date.now() < began + 3000) await new Promise((r) => setTimeout(r, 5));
  const heldFor = Date.now() - began;
  t.ok(heldFor >= 350 && heldFor < 2500, `the hold ended after ${heldFor} ms (holdMs 400) with nothing read`);
  t.equal(log2.said.length, 1, 'without a warning: pacing goes on');
  while (!stuck.paused && Date.now() < began + 6000) await new Promise((r) => setTimeout(r, 5));
  t.equal(stuck.paused, true, 'paused again at the limit');
  t.match(log2.said[1], /is [\d.]+ MiB ahead of the upload/);
  while (stuck.paused && Date.now() < began + 9000) await new Promise((r) => setTimeout(r, 10));
  t.equal(stuck.paused, false, 'and that pause ends by the stall rule');
  t.not(await state(w2.pid, false), 'T');
  t.match(log2.said.at(-1), /^warn .*is no longer paused for the upload \(the upload made no progress for 0\.5 s\)/);
});

t.test('a hold ends once the upload reads, even when the writer was stopped before its first byte', async (t) => {
  // The JVM is stopped the moment its dump appears, often before it wrote anything: the
  // upload's first read then returns nothing, and waiting for bytes handed on held it the
  // whole bound. The upload reading is what ends the hold.
  const w = await startWriter(t, MiB);
  const log = lines();
  let reading = false;
  const began = Date.now();
  const pacing = new WriterPacing({ pid: w.pid, file: w.file, limitBytes: 64 * MiB, progress: () => 0, uploadReading: () => reading, holdUntilFollowing: true, holdMs: 10_000, log }).watch();
  t.teardown(() => pacing.end());
  t.equal(await state(w.pid, true), 'T', 'held at the start');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(pacing.paused, true, 'still held while the upload has not read');
  reading = true; // its first read returned, with nothing in it
  const readAt = Date.now();
  while (pacing.paused && Date.now() < began + 5000) await new Promise((r) => setTimeout(r, 5));
  t.equal(pacing.paused, false, 'let go');
  t.ok(Date.now() - readAt < 1000, `within ${Date.now() - readAt} ms of the read, nowhere near the 10 s bound, with nothing handed on`);
  t.not(await state(w.pid, false), 'T');
  t.equal(await grows(w.file), true, 'and it writes again');
});

t.test('the last resort lets every paused writer go', async (t) => {
  const w = await startWriter(t);
  const pacing = new WriterPacing({ pid: w.pid, file: w.file, limitBytes: 64 * MiB, progress: () => 0, log: lines() });
  pacing.onDisk(64 * MiB);
  t.equal(await state(w.pid, true), 'T');
  resumeAllPaused(); // what the app's signal() and the watchdog's exit call first
  t.not(await state(w.pid, false), 'T');
  t.equal(pausedCount(), 0);
  pacing.end();
});

t.test('a writer that cannot be paused (gone): one line, nothing else tried', async (t) => {
  const w = await startWriter(t);
  w.child.kill('SIGKILL');
  await w.child;
  const log = lines();
  const pacing = new WriterPacing({ pid: w.pid, file: w.file, limitBytes: 64 * MiB, progress: () => 0, log });
  pacing.onDisk(64 * MiB);
  t.equal(pacing.paused, false);
  t.match(log.said, [/^warn .*is no longer paused for the upload \(pid \d+ cannot be paused: ESRCH\)/]);
  pacing.onDisk(64 * MiB);
  t.equal(log.said.length, 1, 'said once');
});

// Last: it changes the process-wide state for good, as a stop does in the watchdog.
t.test('once the app is being stopped, paused writers go on and nothing is paused again', async (t) => {
  const w = await startWriter(t);
  const log = lines();
  const pacing = new WriterPacing({ pid: w.pid, file: w.file, limitBytes: 64 * MiB, progress: () => 0, log });
  pacing.onDisk(64 * MiB);
  t.equal(await state(w.pid, true), 'T');
  // And one held at its dump's start, waiting for the upload (holdUntilFollowing).
  const w2 = await startWriter(t, MiB);
  const held = new WriterPacing({ pid: w2.pid, file: w2.file, limitBytes: 64 * MiB, progress: () => 0, holdUntilFollowing: true, holdMs: 10_000, log: lines() }).watch();
  t.teardown(() => held.end());
  t.equal(await state(w2.pid, true), 'T', 'held at the start');
  releasePausedWriters(); // what the first stop signal and the watchdog's exit call
  t.not(await state(w.pid, false), 'T');
  t.not(await state(w2.pid, false), 'T', 'the held writer is let go too');
  t.equal(mayPause(), false);
  held.onDisk(200 * MiB);
  t.equal(held.paused, false, 'the held one is not paused again, not even at the limit');
  const later = new WriterPacing({ pid: w.pid, file: w.file, limitBytes: 64 * MiB, progress: () => 0, log });
  later.onDisk(100 * MiB);
  t.equal(later.paused, false, 'a new pacing does not pause');
  t.not(await state(w.pid, false), 'T');
  t.match(log.said.at(-1), /is no longer paused for the upload \(the app is being stopped\)/);
  pacing.onDisk(100 * MiB);
  t.equal(pacing.paused, false);
});
