// Each evidence file's completeness comes from its writer: the JVM's words, its exit, or the
// file going quiet. Real files and inotify; the crash is replaced by a recorder of what it
// would be handed (the store side is tested in pipeline and e2e tests).
import t, { type Test } from 'tap';
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import path from 'node:path';
import { coreCompleteness } from '../../src/capture/core-file.ts';
import type { Crash } from '../../src/capture/crash.ts';
import { EvidenceWatch, JVM_FILES, type EvidenceDeps } from '../../src/capture/evidence.ts';
import type { RoomVerdict } from '../../src/capture/stream-room.ts';
import type { ArtifactSpec } from '../../src/store/pipeline.ts';
import { memoryEventLog } from '../../src/util/event-log.ts';
import { tempDir } from '../support/temp.ts';

async function watched(t: Test, quietMs = 60_000, more: Partial<EvidenceDeps> = {}) {
  const folder = await tempDir('pm-evidence-');
  const specs: ArtifactSpec[] = [];
  const recorder = { add: (spec: ArtifactSpec) => { specs.push(spec); } } as unknown as Crash;
  const log = memoryEventLog();
  const watch = new EvidenceWatch({ folders: [{ folder, classify: JVM_FILES }], log, gzipLevel: 0, crashFor: () => recorder, quietMs: { heap: quietMs }, ...more });
  await watch.start();
  t.teardown(() => watch.close());
  /** The dump as the store would read it, then what completeness says about it. */
  const drained = async (n = 1) => {
    while (specs.length < n) await new Promise((r) => setTimeout(r, 10));
    const spec = specs[n - 1]!;
    let bytes = 0;
    for await (const chunk of spec.source as AsyncIterable<Buffer>) bytes += chunk.length;
    return { bytes, verdict: await spec.completeness?.() };
  };
  return { folder, watch, log, drained, specs };
}

t.test('the JVM saying "Heap dump file created": complete', async (t) => {
  const { folder, watch, drained } = await watched(t);
  const file = path.join(folder, 'java_pid7.hprof');
  watch.jvmSaid({ kind: 'heap-dump-started', path: file });
  await writeFile(file, Buffer.alloc(1000, 1));
  watch.jvmSaid({ kind: 'heap-dump-written' });
  t.same(await drained(), { bytes: 1000, verdict: { complete: true } });
});

t.test('the JVM saying "Dump file is incomplete": incomplete, with its reason', async (t) => {
  const { folder, watch, drained } = await watched(t);
  const file = path.join(folder, 'java_pid8.hprof');
  await writeFile(file, Buffer.alloc(500, 1));
  watch.jvmSaid({ kind: 'heap-dump-started', path: file });
  watch.jvmSaid({ kind: 'heap-dump-failed', reason: 'No space left on device' });
  const { verdict } = await drained();
  t.equal(verdict?.complete, false);
  t.match(verdict?.reason, /the JVM said "Dump file is incomplete: No space left on device"/);
});

t.test('the JVM gone without a word: incomplete', async (t) => {
  const { folder, watch, drained } = await watched(t);
  await writeFile(path.join(folder, 'java_pid9.hprof'), Buffer.alloc(500, 1));
  await watch.appExited();
  const { verdict } = await drained();
  t.equal(verdict?.complete, false);
  t.match(verdict?.reason, /exited before it said the heap dump was created/);
});

t.test('a file that stops growing before its writer says it is done: incomplete, even if the JVM speaks later', async (t) => {
  const { folder, watch, log, drained } = await watched(t, 300);
  const file = path.join(folder, 'java_pid10.hprof');
  await writeFile(file, Buffer.alloc(500, 1));
  const result = drained();
  await appendFile(file, Buffer.alloc(500, 2));
  const { bytes, verdict } = await result;
  watch.jvmSaid({ kind: 'heap-dump-written' });
  t.equal(bytes, 1000);
  t.equal(verdict?.complete, false);
  t.match(verdict?.reason, /stopped growing for 0\.3 s/);
  t.match(log.lines.join('\n'), /stopped growing before its writer said it is done; storing what is there as incomplete/);
});

// The container's room is a switch here (the real cgroup decides in e2e/memory-limit.test.ts).
const MiB = 1024 * 1024;
const NO_ROOM: RoomVerdict = { fits: false, room: 6 * MiB, need: 64 * MiB, limit: 288 * MiB };
const until = async (what: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; !what() && Date.now() < end;) await new Promise((r) => setTimeout(r, 10));
};

t.test('no room to stream while the JVM writes: the dump waits, says why, and streams whole once the JVM is gone', async (t) => {
  const { folder, watch, log, drained, specs } = await watched(t, 60_000, { roomToStream: () => NO_ROOM, roomRecheckMs: 20 });
  const file = path.join(folder, 'java_pid11.hprof');
  watch.jvmSaid({ kind: 'heap-dump-started', path: file });
  await writeFile(file, Buffer.alloc(700, 1));
  await until(() => log.lines.some((l) => /less than the 64 MiB/.test(l)));
  t.match(log.lines.join('\n'), /heap dump appeared: \S+java_pid11\.hprof; the container has 6 MiB of its 288 MiB memory limit free, less than the 64 MiB streaming takes while the writer holds its memory: it is stored once the writer is done or gone \(POSTMORTEM_MEMORY_RESERVE keeps room for this\)/);
  await appendFile(file, Buffer.alloc(300, 2));
  await new Promise((r) => setTimeout(r, 100)); // several re-checks, still no room
  t.equal(specs.length, 0, 'nothing is handed to the store while there is no room');
  await watch.appExited();
  const { bytes, verdict } = await drained();
  t.equal(bytes, 1000, 'the whole file, read once its writer was gone');
  t.match(verdict?.reason, /exited before it said the heap dump was created/, 'and called what it is');
});

t.test('room back after the JVM said the dump was created: it streams then, complete, and the crash is told', async (t) => {
  let room: RoomVerdict = NO_ROOM;
  let late = 0;
  const { folder, watch, log, drained, specs } = await watched(t, 60_000, { roomToStream: () => room, roomRecheckMs: 20, onLateHeapDump: () => { late += 1; } });
  const file = path.join(folder, 'java_pid12.hprof');
  watch.jvmSaid({ kind: 'heap-dump-started', path: file });
  await writeFile(file, Buffer.alloc(400, 1));
  await until(() => log.lines.some((l) => /java_pid12\.hprof; the container has/.test(l)));
  watch.jvmSaid({ kind: 'heap-dump-written' });
  t.equal(specs.length, 0, 'still no room when the JVM is done: it keeps waiting');
  room = { fits: true };
  t.same(await drained(), { bytes: 400, verdict: { complete: true } });
  t.equal(late, 1, 'the crash hears that its late dump is in (the app survived its OutOfMemoryError)');
  t.match(log.lines.join('\n'), /the container has room again: streaming \S+java_pid12\.hprof/);
});

t.test('an hs_err log never waits for room (small, and the JVM is dying)', async (t) => {
  const { folder, drained } = await watched(t, 60_000, { roomToStream: () => NO_ROOM, quietMs: { 'fatal-error-log': 200 } });
  await writeFile(path.join(folder, 'hs_err_pid13.log'), 'A fatal error has been detected\n');
  t.equal((await drained()).bytes, 32);
});

t.test('a real core: whole when its length matches its ELF headers, incomplete when cut short', async (t) => {
  const dir = await tempDir('pm-core-');
  await execa('cc', ['-O0', '-o', path.join(dir, 'crasher'), path.resolve('test/fixtures/native/crasher.c')]);
  // The machine's core_pattern is "core" (PLATFORM.md): the core lands in the working directory.
  const crashed = await execa('bash', ['-c', 'ulimit -c unlimited; exec ./crasher segv'], { cwd: dir, reject: false });
  t.equal(crashed.signal, 'SIGSEGV');
  const name = (await readdir(dir)).find((n) => /^core(\.\d+)?$/.test(n));
  if (!name) throw new Error(`no core in ${dir}: core_pattern is ${await readFile('/proc/sys/kernel/core_pattern', 'utf8')}`);
  const core = path.join(dir, name);
  t.same(await coreCompleteness(core), { complete: true }, 'the kernel\'s whole core');
  const cut = path.join(dir, 'core.cut');
  const bytes = await readFile(core);
  await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const verdict = await coreCompleteness(cut);
  t.equal(verdict?.complete, false);
  t.match(verdict?.reason, new RegExp(`cut short: ${Math.floor(bytes.length / 2)} of the \\d+ bytes its headers describe`));
  await writeFile(cut, bytes.subarray(0, 10));
  t.match((await coreCompleteness(cut))?.reason, /not even an ELF header/);
  await writeFile(cut, 'not a core at all, just text that is long enough to hold an ELF header of 64 bytes......');
  t.equal(await coreCompleteness(cut), undefined, 'not an ELF core: no verdict');
});
