// Each evidence file's completeness comes from its writer: the JVM's words, its exit, or the
// file going quiet. Real files and inotify; the crash is replaced by a recorder of what it
// would be handed (the store side is tested in pipeline and e2e tests).
import t, { type Test } from 'tap';
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import path from 'node:path';
import { coreCompleteness } from '../../src/capture/core-file.ts';
import type { Crash } from '../../src/capture/crash.ts';
import { EvidenceWatch, JVM_FILES } from '../../src/capture/evidence.ts';
import type { ArtifactSpec } from '../../src/store/pipeline.ts';
import { memoryEventLog } from '../../src/util/event-log.ts';
import { tempDir } from '../support/temp.ts';

async function watched(t: Test, quietMs = 60_000) {
  const folder = await tempDir('pm-evidence-');
  const specs: ArtifactSpec[] = [];
  const recorder = { add: (spec: ArtifactSpec) => { specs.push(spec); } } as unknown as Crash;
  const log = memoryEventLog();
  const watch = new EvidenceWatch({ folders: [{ folder, classify: JVM_FILES }], log, gzipLevel: 0, crashFor: () => recorder, quietMs: { heap: quietMs } });
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
  return { folder, watch, log, drained };
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
