// POSTMORTEM_APP_FILES under a deadline, with the real bash and tar: a tar that stops making
// progress (SIGSTOP: a real tar and its gzip, stuck the way one reading a hung mount is) must
// not keep its artifact open once the deadline destroys it, and a glob that takes too long ends with the
// crash's deadline. Without this, both waited for ever: an async generator hears of its
// stream's destruction only at its next yield.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { appFilesArtifact, selectAppFiles } from '../../src/capture/app-files.ts';
import { alive, processesBelow } from '../support/processes.ts';
import { tempDir } from '../support/temp.ts';

const MiB = 1024 * 1024;

/** The artifact's source as the store pipeline reads it (src/store/pipeline.ts). */
function asStream(source: Readable | AsyncIterable<Buffer>): Readable {
  return source instanceof Readable ? source : Readable.from(source, { objectMode: false });
}

/** Processes below this test process whose command line contains `marker`. */
async function childrenMatching(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const pid of await processesBelow(process.pid)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').join(' ').includes(marker)) found.push(pid);
  }
  return found;
}

async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (await alive(pid)) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

t.test('a tar stuck mid-archive is killed and its artifact closed when the deadline destroys it', async (t) => {
  const dir = await tempDir('pm-app-files-');
  await writeFile(path.join(dir, 'big.bin'), randomBytes(8 * MiB)); // incompressible: tar is mid-way after its first chunk
  const source = asStream(appFilesArtifact(dir, ['big.bin']).source);
  let received = 0;
  const first = new Promise<void>((resolve) => source.once('data', () => resolve()));
  source.on('data', (chunk: Buffer) => { received += chunk.length; });
  await first;
  const [tar] = await childrenMatching('--files-from=-');
  const [gzip] = await childrenMatching('gzip');
  t.ok(tar, 'tar is running');
  t.ok(gzip, 'and the gzip it writes through, which holds our end of the pipe');
  // Both stuck: even once tar is killed, its gzip keeps the output open, as a process the
  // kernel does not let die would (a read on a dead mount).
  process.kill(tar!, 'SIGSTOP');
  process.kill(gzip!, 'SIGSTOP');
  t.teardown(() => { try { process.kill(gzip!, 'SIGKILL'); } catch { /* gone */ } });
  // Everything already in the pipe is read; then the artifact waits for a tar that never goes on.
  let before = -1;
  while (before !== received) { before = received; await new Promise((resolve) => setTimeout(resolve, 200)); }
  t.ok(received < 8 * MiB, `part of the archive arrived (${received} bytes), not all of it`);
  t.notOk(source.readableEnded, 'the archive has not ended');

  source.on('error', () => undefined); // the destroy's own error; the pipeline handles it there
  const closed = new Promise<boolean>((resolve) => source.once('close', () => resolve(true)));
  const destroyedAt = Date.now();
  source.destroy(new Error('POSTMORTEM_UPLOAD_TIMEOUT reached'));
  const inTime = await Promise.race([closed, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3000))]);
  t.ok(inTime, `the artifact closed ${Date.now() - destroyedAt} ms after it was destroyed, its output still held open (bound: 3 s; without the stop it never does)`);
  t.ok(await goneWithin(tar!, 2000), 'the stuck tar is gone');
  if (await alive(tar!)) process.kill(tar!, 'SIGKILL');
});

t.test('a tar that fails fails the artifact, with its message', async (t) => {
  const dir = await tempDir('pm-app-files-');
  const source = asStream(appFilesArtifact(dir, ['not-there.log']).source);
  await t.rejects(async () => { for await (const _ of source) { /* drain */ } }, /tar exited with 2: .*not-there\.log/);
});

t.test('looking for the app files ends with the crash\'s deadline', async (t) => {
  const dir = await tempDir('pm-app-files-');
  // Enough files that bash is still expanding and testing them when it is stopped.
  await execa('bash', ['-c', 'mkdir -p d{1..200} && touch d{1..200}/f{1..300}.log'], { cwd: dir });
  const deadline = new AbortController();
  const selecting = selectAppFiles(dir, ['**/*.log'], 1024 * MiB, deadline.signal);
  let bash: number | undefined;
  for (let tries = 0; bash === undefined && tries < 2000; tries++) {
    [bash] = await childrenMatching('postmortem-app-files');
    if (bash === undefined) await new Promise((resolve) => setImmediate(resolve));
  }
  t.ok(bash, 'the listing is running');
  process.kill(bash!, 'SIGSTOP'); // a glob over a mount that does not answer
  await new Promise((resolve) => setTimeout(resolve, 300));
  const abortedAt = Date.now();
  deadline.abort(new Error('POSTMORTEM_UPLOAD_TIMEOUT (5 s) nearly reached'));
  const selection = await Promise.race([selecting, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 3000))]);
  t.ok(selection, `the selection returned ${Date.now() - abortedAt} ms after the deadline (bound: 3 s)`);
  t.match(selection?.stopped, /POSTMORTEM_UPLOAD_TIMEOUT \(5 s\) nearly reached/, 'and says why it stopped');
  t.same(selection?.files, [], 'nothing half-listed is stored');
  t.ok(await goneWithin(bash!, 2000), 'the stopped bash is gone');
});

t.test('an aborted deadline selects nothing and starts no process', async (t) => {
  const dir = await tempDir('pm-app-files-');
  await writeFile(path.join(dir, 'app.log'), 'x');
  const deadline = new AbortController();
  deadline.abort(new Error('the stop abandoned the uploads'));
  const selection = await selectAppFiles(dir, ['*.log'], MiB, deadline.signal);
  t.same(selection, { files: [], bytes: 0, leftOut: [], stopped: 'the stop abandoned the uploads' });
  t.same(await childrenMatching('postmortem-app-files'), []);
});

t.test('without a deadline the files are chosen in order, up to the cap', async (t) => {
  const dir = await tempDir('pm-app-files-');
  await writeFile(path.join(dir, 'a.log'), 'a'.repeat(600));
  await writeFile(path.join(dir, 'b.log'), 'b'.repeat(600));
  await writeFile(path.join(dir, 'c.txt'), 'c');
  const selection = await selectAppFiles(dir, ['*.log', '*.txt'], 1000);
  t.same(selection, { files: ['a.log', 'c.txt'], bytes: 601, leftOut: ['b.log'] });
});
