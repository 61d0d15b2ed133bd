// Who gzips a heap dump: chosen at launch from the free disk of the dump folder (a real,
// deliberately small tmpfs here) and the heap the JVM may hold; a setting overrides it.
import t, { type Test } from 'tap';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { parseConfig } from '../../src/config/parse.ts';
import { ConfigError, type Env } from '../../src/config/types.ts';
import { prepareCapture } from '../../src/capture/prepare.ts';
import { chooseDumpStrategy, maxHeapOption } from '../../src/capture/dump-strategy.ts';
import { memoryEventLog } from '../../src/util/event-log.ts';
import { tempDir } from '../support/temp.ts';
import { unlessMissing } from '../support/requirements.ts';
import { LAUNCH_ENV } from '../config/fixtures.ts';

const MiB = 1024 * 1024;

async function prepared(dumpDir: string, env: Env, command = 'java -Xmx48m -cp . Oom') {
  const appDir = await tempDir('pm-strategy-app-');
  const fullEnv = { ...LAUNCH_ENV, PATH: process.env.PATH, POSTMORTEM_DUMP_DIR: dumpDir, POSTMORTEM_JAVA: 'true', ...env };
  const { config } = parseConfig(fullEnv);
  const log = memoryEventLog();
  const result = await prepareCapture({
    config, env: fullEnv, command: ['bash', '-c', command], appDir, log, appPid: () => undefined,
    readKernel: async () => undefined,
  });
  const ours = result.folders.find((f) => f.folder.startsWith(dumpDir));
  return { result, ours, lines: log.lines.join('\n') };
}

/** A real tmpfs of `size` bytes: statfs there reports that little free disk. */
async function smallDisk(t: Test, size: number): Promise<string> {
  const dir = await tempDir('pm-strategy-disk-');
  await execa('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  t.teardown(() => execa('umount', [dir]).then(() => undefined));
  await mkdir(path.join(dir, 'dumps'));
  return path.join(dir, 'dumps');
}

const notRoot = process.getuid?.() === 0 ? undefined : 'mounting a tmpfs needs root';

t.test('JDK 17 with room on disk: the JVM writes plain, the watchdog compresses and punches', async (t) => {
  const dumpDir = await tempDir('pm-strategy-');
  const { result, ours, lines } = await prepared(dumpDir, {});
  t.ok(result.javaMajors.includes(17), `JDK 17 found (${result.javaMajors.join(', ')})`);
  t.notMatch(result.env.JAVA_TOOL_OPTIONS, /HeapDumpGzipLevel/, 'no JVM gzip');
  t.match(lines, /heap dumps: written plain by the JVM and compressed by the watchdog \(free disk [\d.]+ [GT]iB, heap up to 48 MiB, a plain dump up to 67.2 MiB\)/);
  t.equal(ours?.punchHoles, true, 'our own folder is punched behind the upload');
});

t.test('POSTMORTEM_PUNCH_HOLES=false: plain dumps stay whole on disk', async (t) => {
  const { ours } = await prepared(await tempDir('pm-strategy-'), { POSTMORTEM_PUNCH_HOLES: 'false' });
  t.equal(ours?.punchHoles, false);
});

t.test('free disk smaller than the heap: the JVM gzips; the setting overrides either way', unlessMissing(notRoot), async (t) => {
  const dumpDir = await smallDisk(t, 16 * MiB);
  const auto = await prepared(dumpDir, {});
  t.match(auto.result.env.JAVA_TOOL_OPTIONS, /-XX:HeapDumpGzipLevel=1\b/, 'JVM gzip chosen');
  t.match(auto.lines, /heap dumps: compressed by the JVM as it writes them \(the free disk cannot hold a plain dump of the whole heap; free disk 1[56](\.\d)? MiB, heap up to 48 MiB, a plain dump up to 67.2 MiB\)/);
  t.equal(auto.ours?.punchHoles, false, 'a JVM-gzipped dump is never punched');

  const forced = await prepared(dumpDir, { POSTMORTEM_DUMP_COMPRESSION: 'watchdog' });
  t.notMatch(forced.result.env.JAVA_TOOL_OPTIONS, /HeapDumpGzipLevel/);
  t.match(forced.lines, /heap dumps: written plain by the JVM and compressed by the watchdog \(POSTMORTEM_DUMP_COMPRESSION=watchdog; /);
  t.match(forced.lines, /only 1[56](\.\d)? MiB free disk for heap dumps; a plain dump of this app can need 67.2 MiB/, 'and it warns that the disk is short, with the strategy line\'s figure');

  const roomy = await prepared(await tempDir('pm-strategy-'), { POSTMORTEM_DUMP_COMPRESSION: 'JVM' });
  t.match(roomy.result.env.JAVA_TOOL_OPTIONS, /-XX:HeapDumpGzipLevel=1\b/, 'jvm forced where the disk has room');
  t.match(roomy.lines, /compressed by the JVM as it writes them \(POSTMORTEM_DUMP_COMPRESSION=jvm; /);
});

t.test('a bad POSTMORTEM_DUMP_COMPRESSION or POSTMORTEM_PUNCH_HOLES is an error naming the setting and the fix', async (t) => {
  try {
    parseConfig({ ...LAUNCH_ENV, POSTMORTEM_DUMP_COMPRESSION: 'pigz', POSTMORTEM_PUNCH_HOLES: 'sometimes' });
    t.fail('accepted');
  } catch (error) {
    t.ok(error instanceof ConfigError);
    const problems = (error as ConfigError).problems;
    t.match(problems, [/POSTMORTEM_DUMP_COMPRESSION .*"pigz".*one of auto, watchdog, jvm.*set POSTMORTEM_DUMP_COMPRESSION to one of those values, or remove it/, /POSTMORTEM_PUNCH_HOLES .*"sometimes"/]);
  }
});

t.test('the choice without a JVM that can gzip, or without compression', async (t) => {
  const base = { gzipLevel: 1, heapLimit: 512 * MiB, freeDisk: 100 * MiB } as const;
  const jdk11 = chooseDumpStrategy({ ...base, setting: 'jvm', javaMajors: [11] });
  t.same([jdk11.jvmGzipLevel, jdk11.mayPunch], [0, false], 'JDK 11 writes plain, and seeks back: never punched');
  t.match(jdk11.line, /JDK 11 has no HeapDumpGzipLevel, so POSTMORTEM_DUMP_COMPRESSION=jvm cannot apply/);
  const raw = chooseDumpStrategy({ ...base, setting: 'auto', gzipLevel: 0, javaMajors: [17] });
  t.same([raw.jvmGzipLevel, raw.mayPunch], [0, true]);
  t.match(raw.line, /stored uncompressed \(POSTMORTEM_GZIP_LEVEL=0; free disk 100 MiB, heap up to 512 MiB, a plain dump up to 716.8 MiB\)/);
  const unknown = chooseDumpStrategy({ ...base, setting: 'auto', javaMajors: [17, 21], freeDisk: undefined });
  t.equal(unknown.jvmGzipLevel, 0, 'unknown free disk: plain');
  t.match(unknown.line, /free disk unknown/);
  const tight = chooseDumpStrategy({ ...base, setting: 'auto', javaMajors: [17], heapLimit: 100 * MiB, freeDisk: 120 * MiB });
  t.equal(tight.jvmGzipLevel, 1, 'more free disk than heap, less than a plain dump of it (x1.4): the JVM gzips');
});

t.test('the heap limit from -Xmx / -XX:MaxHeapSize, the last one winning', async (t) => {
  t.equal(maxHeapOption('-Xmx48m'), 48 * MiB);
  t.equal(maxHeapOption('-Xms1g -Xmx2G', '-XX:MaxHeapSize=805306368'), 805306368);
  t.equal(maxHeapOption('-Xmx1024k -Dfoo=-Xmx9g'), 1024 * 1024, 'only whole options count');
  t.equal(maxHeapOption(undefined, '-Xss1m'), undefined);
});
