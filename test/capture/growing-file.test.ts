// A real writer process appends to a file while we read it; nothing may be lost, and
// reading must start before the writer is done.
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { followGrowingFile } from '../../src/capture/growing-file.ts';
import { tempDir } from '../support/temp.ts';

const WRITER = `
const fs = require('node:fs');
const fd = fs.openSync(process.argv[1], 'a');
let i = 0;
const timer = setInterval(() => {
  const chunk = Buffer.alloc(300 * 1024 + i, i % 251);
  fs.writeSync(fd, chunk);
  if (++i === 20) { clearInterval(timer); fs.closeSync(fd); }
}, 25);
`;

t.test('follows a file written front to back by another process', async (t) => {
  const dir = await tempDir('pm-grow-');
  const file = path.join(dir, 'java_pid1.hprof');
  await writeFile(file, '');
  const writer = execa(process.execPath, ['-e', WRITER, file]);
  const followed = followGrowingFile(file, { chunkSize: 64 * 1024 });
  const hash = createHash('sha256');
  let bytesWhileWriting = 0;
  let writing = true;
  void writer.then(() => { writing = false; followed.complete(); });
  for await (const chunk of followed.stream) {
    if (writing) bytesWhileWriting += chunk.length;
    hash.update(chunk);
  }
  await writer;
  const expected = createHash('sha256').update(await readFile(file)).digest('hex');
  t.equal(hash.digest('hex'), expected, 'every byte, in order');
  t.ok(bytesWhileWriting > 0, `read ${bytesWhileWriting} bytes before the writer finished`);
});

t.test('a writer gone quiet without a completion signal ends the stream with a warning', async (t) => {
  const dir = await tempDir('pm-grow-');
  const file = path.join(dir, 'core');
  await writeFile(file, 'partial');
  let quiet = false;
  const followed = followGrowingFile(file, { quietMs: 300, recheckMs: 50, onQuiet: () => { quiet = true; } });
  const chunks: Buffer[] = [];
  for await (const chunk of followed.stream) chunks.push(chunk);
  t.equal(Buffer.concat(chunks).toString(), 'partial');
  t.ok(quiet, 'onQuiet was called');
});
