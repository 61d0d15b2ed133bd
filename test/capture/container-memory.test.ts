// The cgroup parsers against the kernel's formats. v1 is read for real from this machine's
// /proc and /sys (PLATFORM.md: cgroup v1 here); v2 is not mounted on these machines, so
// its files are stated in a folder of plain files laid out like a cgroup2 mount.
import t from 'tap';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  findMemoryCgroup, oomKillSince, parseMountInfo, parseProcCgroup, readMemoryCounters, realFiles, type ProcFiles,
} from '../../src/capture/container-memory.ts';
import { tempDir } from '../support/temp.ts';

t.test('/proc/self/cgroup: the memory controller\'s path in v1, the unified path in v2', async (t) => {
  t.same(parseProcCgroup('9:name=systemd:/\n4:memory:/garden/abc\n1:cpu,cpuacct:/x\n0::/\n'), { v1: '/garden/abc', v2: '/' });
  t.same(parseProcCgroup('0::/system.slice/app.scope\n'), { v2: '/system.slice/app.scope' });
  t.same(parseProcCgroup('5:cpuacct,memory:/c\n'), { v1: '/c' }, 'co-mounted controllers');
});

t.test('mountinfo: root, mount point (octal escapes undone), type, super options', async (t) => {
  const mounts = parseMountInfo([
    '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
    '29 23 0:26 /garden/abc /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate',
    '40 31 0:37 / /mnt/with\\040space rw - tmpfs tmpfs rw',
    'garbage',
  ].join('\n'));
  t.same(mounts.map((m) => [m.root, m.mountPoint, m.fsType, m.superOptions.includes('memory')]), [
    ['/', '/sys/fs/cgroup/memory', 'cgroup', true],
    ['/garden/abc', '/sys/fs/cgroup', 'cgroup2', false],
    ['/', '/mnt/with space', 'tmpfs', false],
  ]);
});

t.test('this machine: the real v1 memory cgroup of this process, its limit and counters', async (t) => {
  const found = await findMemoryCgroup();
  if (!('cgroup' in found)) { t.fail(`no memory cgroup found here: ${found.why}`); return; }
  t.equal(found.cgroup.version, 1);
  t.match(found.cgroup.dir, /^\/sys\/fs\/cgroup\/memory/);
  const counters = await readMemoryCounters(found.cgroup);
  t.ok(counters.usage! > 0, 'usage');
  t.ok(counters.limit !== undefined || counters.unlimited, 'a limit, or none');
  t.type(counters.oomKill, 'number', 'oom_kill is readable on this kernel');
  t.type(counters.limitHits, 'number', 'memory.failcnt');
});

async function fakeV2(files: Record<string, string>): Promise<{ files: ProcFiles; dir: string }> {
  const root = await tempDir('pm-cg2-');
  const dir = path.join(root, 'sys/fs/cgroup');
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  const proc = path.join(root, 'proc/self');
  await mkdir(proc, { recursive: true });
  await writeFile(path.join(proc, 'cgroup'), '0::/\n');
  await writeFile(path.join(proc, 'mountinfo'), `29 23 0:26 / ${dir} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n`);
  return { files: realFiles, dir: proc };
}

t.test('v2 (stated files): memory.max, memory.peak, memory.events oom_kill', async (t) => {
  const { files, dir } = await fakeV2({
    'memory.max': '1073741824\n', 'memory.current': '52428800\n', 'memory.peak': '1073741824\n',
    'memory.events': 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n',
  });
  const found = await findMemoryCgroup(files, dir);
  if (!('cgroup' in found)) { t.fail(found.why); return; }
  t.equal(found.cgroup.version, 2);
  const c = await readMemoryCounters(found.cgroup, files);
  t.same(c, { limit: 1073741824, usage: 52428800, peak: 1073741824, oomKill: 1, limitHits: 12, unreadable: [] });
});

t.test('v2 without memory.peak (kernels before 5.19) and with no limit: said, not guessed', async (t) => {
  const { files, dir } = await fakeV2({ 'memory.max': 'max\n', 'memory.current': '1000\n', 'memory.events': 'max 0\noom 0\n' });
  const found = await findMemoryCgroup(files, dir);
  if (!('cgroup' in found)) { t.fail(found.why); return; }
  const c = await readMemoryCounters(found.cgroup, files);
  t.equal(c.unlimited, true);
  t.equal(c.limit, undefined);
  t.equal(c.peak, undefined);
  t.same(c.unreadable, ['memory.peak', 'memory.events oom_kill']);
});

t.test('no memory cgroup: a reason in words', async (t) => {
  const root = await tempDir('pm-nocg-');
  await writeFile(path.join(root, 'cgroup'), '1:cpu:/\n');
  await writeFile(path.join(root, 'mountinfo'), '');
  const found = await findMemoryCgroup(realFiles, root);
  t.match('why' in found ? found.why : '', /names no memory cgroup/);
  const missing = await findMemoryCgroup(realFiles, path.join(root, 'nope'));
  t.match('why' in missing ? missing.why : '', /cannot read/);
});

t.test('an OOM kill is the oom_kill counter moving; without one it cannot be told', async (t) => {
  t.same(oomKillSince({ oomKill: 2, unreadable: [] }, { oomKill: 3, unreadable: [] }), { killed: true, evidence: 'oom_kill counter 2 -> 3' });
  t.equal(oomKillSince({ oomKill: 2, unreadable: [] }, { oomKill: 2, unreadable: [] }).killed, false);
  const old = oomKillSince({ limitHits: 1, unreadable: [] }, { limitHits: 9, unreadable: [] });
  t.equal(old.killed, undefined);
  t.match(old.evidence, /no readable oom_kill counter; usage hit the limit 8 times/);
});
