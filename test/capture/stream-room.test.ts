// Room to stream a dump while its writer holds its memory: read from cgroup-shaped folders (the
// kernel's files, written by the test; the real cgroup decides in test/e2e/memory-limit.test.ts).
import t from 'tap';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readMemory, readMemoryNow } from '../../src/capture/memory-pressure.ts';
import { roomToStream, streamingNeed, STREAMING_OVERHEAD } from '../../src/capture/stream-room.ts';
import { tempDir } from '../support/temp.ts';

const MiB = 1024 * 1024;

async function v1(usage: number, limit: string, inactiveFile: number) {
  const dir = path.join(await tempDir('pm-room-'), 'memory');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'memory.usage_in_bytes'), `${usage}\n`);
  await writeFile(path.join(dir, 'memory.limit_in_bytes'), `${limit}\n`);
  await writeFile(path.join(dir, 'memory.stat'), `cache 1\ntotal_inactive_file ${inactiveFile}\n`);
  return { version: 1 as const, dir };
}

t.test('what streaming needs: the overhead, plus the part buffers for S3', async (t) => {
  t.equal(streamingNeed({ kind: 'file' }, 8 * MiB, 4), STREAMING_OVERHEAD);
  t.equal(streamingNeed({ kind: 's3' }, 8 * MiB, 4), STREAMING_OVERHEAD + 32 * MiB);
});

t.test('room = limit - (usage - inactive file cache), against the need', async (t) => {
  const tight = await v1(280 * MiB, String(288 * MiB), 2 * MiB);
  t.same(readMemoryNow(tight), await readMemory(tight), 'the synchronous reading is the same reading');
  t.same(roomToStream(tight, 64 * MiB), { fits: false, room: 10 * MiB, need: 64 * MiB, limit: 288 * MiB });
  const cached = await v1(280 * MiB, String(288 * MiB), 100 * MiB);
  t.same(roomToStream(cached, 64 * MiB), { fits: true }, 'page cache the kernel drops first is room');
  t.same(roomToStream(await v1(280 * MiB, '9223372036854771712', 0), 64 * MiB), { fits: true }, 'no limit: nothing to protect');
  t.same(roomToStream({ version: 2, dir: '/nonexistent/pm-cgroup' }, 64 * MiB), { fits: true }, 'a cgroup that cannot be read: streams as before');

  const v2 = path.join(await tempDir('pm-room-v2-'), 'app.slice');
  await mkdir(v2, { recursive: true });
  await writeFile(path.join(v2, 'memory.current'), `${500 * MiB}\n`);
  await writeFile(path.join(v2, 'memory.max'), `${512 * MiB}\n`);
  await writeFile(path.join(v2, 'memory.stat'), `anon ${490 * MiB}\ninactive_file ${4 * MiB}\n`);
  t.same(roomToStream({ version: 2, dir: v2 }, 32 * MiB), { fits: false, room: 16 * MiB, need: 32 * MiB, limit: 512 * MiB }, 'cgroup v2: memory.current, memory.max, inactive_file');
  await writeFile(path.join(v2, 'memory.max'), 'max\n');
  t.same(roomToStream({ version: 2, dir: v2 }, 32 * MiB), { fits: true }, 'cgroup v2 without a limit');
});
