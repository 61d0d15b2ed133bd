// Lent uploads under faults. An artifact stored as it was read (raw: POSTMORTEM_GZIP_LEVEL=0;
// already gzip: a dump the JVM compressed) hands the source's own read chunks to the store,
// and each goes back to the reader once it is copied into a part or written
// (source-lending.test.ts covers the healthy path). Here the store breaks while chunks are out:
// a part swallowed by a black hole, then the caller's deadline; a part reset mid-body and a
// 500, then retries; a folder store whose dump stops growing, then the deadline. What must
// hold: the deadline binds (the call ends, the multipart upload is aborted, nothing completes
// an object), no chunk goes back twice or after the call has ended, the dump file is not left
// open, and a retried part carries the bytes as read even though its chunks went back (and were
// scribbled over) before the retry. Faults come from a loopback proxy in front of real RGW.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { followGrowingFile, type FollowedFile } from '../../src/capture/growing-file.ts';
import { PARTIAL_SUFFIX, createFileStore } from '../../src/store/file-store.ts';
import { storeArtifact, type ArtifactSpec } from '../../src/store/pipeline.ts';
import { createS3Store } from '../../src/store/s3-store.ts';
import { startFaultProxy, type ProxiedRequest } from '../support/fault-proxy.ts';
import { isOpen } from '../support/open-files.ts';
import { startS3Server, uniqueBucketName } from '../support/s3-server.ts';
import { MiB, collect, dataChunks, sha256 } from './fixtures/data.ts';

const server = await startS3Server({ kind: 'best' });
t.teardown(() => server.stop());
const bucket = uniqueBucketName('lent-faults');
await server.createBucket(bucket);
const proxy = await startFaultProxy(server.endpoint, bucket);
t.teardown(() => proxy.stop());
/** Goes through the proxy, 5 MiB parts, two in flight. */
const faulty = createS3Store(server.target(bucket, { endpoint: proxy.endpoint }), { partSize: 5 * MiB, queueSize: 2, maxAttempts: 4 });
t.teardown(() => faulty.close());
/** Talks to RGW directly: what is really there. */
const direct = createS3Store(server.target(bucket), { partSize: 5 * MiB, queueSize: 2 });
t.teardown(() => direct.close());

const isPart = (r: ProxiedRequest) => r.method === 'PUT' && r.query.has('partNumber');
const partNumber = (r: ProxiedRequest) => Number(r.query.get('partNumber'));
/** 17 MiB and a bit: four parts, the last one short. */
const SIZE = 17 * MiB + 777;
const content = Buffer.concat([...dataChunks(SIZE, 'random', 11, 256 * 1024)]);

/**
 * Follows each chunk from the source to its return. A followed file reads into a buffer again
 * once it is back, so the same Buffer may be lent many times: what must never happen is a
 * chunk given back while it is not out (twice for one lending), or after the call has ended.
 */
function backCounter(t: Test, source: Readable, then: (chunk: Buffer) => void) {
  const out = new Set<Buffer>();
  const state = { lent: 0, back: 0, twice: 0, late: 0, closed: false };
  // One more 'data' listener beside the pipeline's own sees the same chunk objects.
  source.on('data', (chunk: Buffer) => { out.add(chunk); state.lent++; });
  const release = (chunk: Buffer) => {
    if (!out.delete(chunk)) state.twice++;
    if (state.closed) state.late++;
    state.back++;
    then(chunk);
  };
  const settle = async () => {
    state.closed = true;
    await sleep(300); // a part upload left running would give its chunks back in this time
    t.equal(state.twice, 0, 'no chunk went back twice, or without being lent');
    t.equal(state.late, 0, 'no chunk went back after the call had ended');
  };
  return { release, state, settle };
}

/** Requests for part `n` the proxy saw (each attempt counts). */
const sendsOfPart = (n: number) => proxy.seen.filter((r) => isPart(r) && partNumber(r) === n).length;

/** `content` as one .gz cut into 64 KiB chunks of their own memory, as a reader would hand them on. */
function gzChunks(): { gz: Buffer; chunks: Buffer[] } {
  const gz = gzipSync(content, { level: 1 });
  const chunks: Buffer[] = [];
  for (let at = 0; at < gz.length; at += 64 * 1024) chunks.push(Buffer.from(gz.subarray(at, at + 64 * 1024)));
  return { gz, chunks };
}

async function dumpFile(t: Test, data: Buffer, name = 'heap.hprof'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'postmortem-lent-faults-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  await writeFile(file, data);
  return file;
}

/** Starts storing; aborts once part 2 has reached the black hole; returns the call's end and how long it took after the abort. */
async function abortedAtPart2(key: string, spec: ArtifactSpec) {
  proxy.seen.length = 0;
  proxy.rule = (r) => (isPart(r) && partNumber(r) >= 2 ? { kind: 'black-hole' } : undefined);
  const controller = new AbortController();
  const upload = storeArtifact(faulty, key, spec, { signal: controller.signal }).then(() => undefined, (e: unknown) => e);
  const since = Date.now();
  while (!proxy.seen.some((r) => isPart(r) && partNumber(r) === 2)) {
    if (Date.now() - since > 20_000) throw new Error('part 2 never reached the proxy');
    await sleep(20);
  }
  const abortedAt = Date.now();
  controller.abort(new Error('deadline'));
  const error = await upload;
  proxy.rule = () => undefined;
  return { error, afterAbortMs: Date.now() - abortedAt };
}

function checkAborted(t: Test, outcome: { error: unknown; afterAbortMs: number }) {
  t.match(String(outcome.error), /was aborted \(deadline\)/, 'the call ends with the deadline as its reason');
  // A black-holed part never answers: without a binding deadline the call would never end.
  t.ok(outcome.afterAbortMs < 3000, `ended ${outcome.afterAbortMs} ms after the abort`);
  t.ok(proxy.seen.some((r) => r.method === 'DELETE' && r.query.has('uploadId')), 'AbortMultipartUpload sent before the call returned');
  t.notOk(proxy.seen.some((r) => r.method === 'POST' && r.query.has('uploadId')), 'the upload was never completed');
}

t.test('raw, a followed dump: a part in a black hole, then the deadline', async (t) => {
  const file = await dumpFile(t, content);
  const followed: FollowedFile = followGrowingFile(file);
  followed.complete();
  const counter = backCounter(t, followed.stream, (chunk) => followed.release(chunk));
  const key = 'lent/raw-abandoned';
  const outcome = await abortedAtPart2(key, { name: 'heap.hprof', source: followed.stream, contentType: 'application/octet-stream', encoding: 'raw', release: counter.release });
  checkAborted(t, outcome);
  await counter.settle();
  t.ok(counter.state.back >= 20, `${counter.state.back} chunks of ${counter.state.lent} read (part 1's and more) went back before the abort`);
  t.ok(followed.stream.destroyed, 'the followed dump is closed');
  t.notOk(await isOpen(file), 'the dump file is not held open');
  t.equal(await direct.head(`${key}/heap.hprof`), undefined, 'no object under the key in the store');
  t.equal(sha256(await readFile(file)), sha256(content), 'the dump on disk is untouched: the evidence is still there');
});

t.test('already gzip: a part in a black hole, then the deadline; the gunzip on the side stops too', async (t) => {
  const source = Readable.from(gzChunks().chunks, { objectMode: false });
  const counter = backCounter(t, source, (chunk) => chunk.fill(0xee));
  const key = 'lent/gz-abandoned';
  const outcome = await abortedAtPart2(key, { name: 'heap.hprof.gz', source, contentType: 'application/gzip', encoding: 'already-gzip', release: counter.release });
  checkAborted(t, outcome);
  await counter.settle();
  t.ok(source.destroyed, 'the source is closed');
  t.equal(await direct.head(`${key}/heap.hprof.gz`), undefined, 'no object under the key in the store');
});

t.test('a part reset mid-body and a 500 are retried from the part, not from chunks already given back', async (t) => {
  proxy.seen.length = 0;
  proxy.rule = (r) => {
    if (!isPart(r) || r.attempt > 1) return undefined;
    if (partNumber(r) === 2) return { kind: 'reset', afterBytes: 1 * MiB };
    if (partNumber(r) === 3) return { kind: 'status', status: 500 };
    return undefined;
  };
  t.teardown(() => { proxy.rule = () => undefined; });

  t.test('raw: every chunk is scribbled over the moment it is back', async (t) => {
    const chunks = [...dataChunks(SIZE, 'random', 11, 256 * 1024)].map((c) => Buffer.from(c));
    const source = Readable.from(chunks, { objectMode: false });
    const counter = backCounter(t, source, (chunk) => chunk.fill(0xee));
    const record = await storeArtifact(faulty, 'lent/raw-retried', { name: 'core', source, contentType: 'application/octet-stream', encoding: 'raw', release: counter.release });
    await counter.settle();
    t.ok(sendsOfPart(2) >= 2, 'part 2 was sent again after the reset');
    t.ok(sendsOfPart(3) >= 2, 'part 3 was sent again after the 500');
    t.equal(counter.state.back, chunks.length, 'every chunk went back');
    t.equal(record.sha256, sha256(content));
    t.ok(record.verified, 'verified by the store');
    t.equal(sha256(await collect(await direct.get(record.key))), sha256(content), 'the stored object is the bytes as read');
  });

  t.test('already gzip: the same, and the content hash is still of the bytes as read', async (t) => {
    proxy.seen.length = 0;
    const { gz, chunks } = gzChunks();
    const source = Readable.from(chunks, { objectMode: false });
    const counter = backCounter(t, source, (chunk) => chunk.fill(0xee));
    // Random content does not compress: the .gz spans four parts, so parts 2 and 3 exist.
    t.ok(gz.length > 15 * MiB, `${gz.length} bytes of .gz`);
    const record = await storeArtifact(faulty, 'lent/gz-retried', { name: 'core.gz', source, contentType: 'application/gzip', encoding: 'already-gzip', release: counter.release });
    await counter.settle();
    t.ok(sendsOfPart(2) >= 2, 'part 2 was sent again after the reset');
    t.equal(counter.state.back, chunks.length, 'every chunk went back');
    t.equal(record.sha256, sha256(content), 'content hash of the decoded bytes');
    t.equal(record.storedSha256, sha256(gz));
    t.equal(sha256(await collect(await direct.get(record.key))), sha256(gz), 'the stored .gz is the bytes as read');
  });
});

t.test('folder store: the dump stops growing, the deadline ends the copy; no file and no .partial is left', async (t) => {
  const file = await dumpFile(t, content.subarray(0, 3 * MiB));
  const followed = followGrowingFile(file, { recheckMs: 50 }); // never completed: the writer has stalled
  const counter = backCounter(t, followed.stream, (chunk) => followed.release(chunk));
  const root = await mkdtemp(path.join(os.tmpdir(), 'postmortem-lent-folder-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const store = createFileStore({ kind: 'file', root, prefix: '', source: 'test' });
  const controller = new AbortController();
  const upload = storeArtifact(store, 'stalled', { name: 'heap.hprof', source: followed.stream, contentType: 'application/octet-stream', encoding: 'raw', release: counter.release }, { signal: controller.signal })
    .then(() => undefined, (e: unknown) => e);
  // All 3 MiB written (12 chunks of 256 KiB back) and the dump still not growing: the deadline.
  const since = Date.now();
  while (counter.state.back < 12 && Date.now() - since < 10_000) await sleep(20);
  t.equal(counter.state.back, 12, 'the 12 chunks read were written and went back before the deadline');
  const abortedAt = Date.now();
  controller.abort(new Error('deadline'));
  const error = await upload;
  t.match(String(error), /aborted|deadline/, `the copy ends with the deadline: ${String(error)}`);
  t.ok(Date.now() - abortedAt < 3000, 'and at once');
  await counter.settle();
  t.equal(counter.state.lent, 12, 'nothing more was read after the deadline');
  t.notOk(await isOpen(file), 'the dump file is not held open');
  const left = await readdir(path.join(root, 'stalled')).catch(() => []);
  t.same(left.filter((name) => name.endsWith(PARTIAL_SUFFIX) || name === 'heap.hprof'), [], 'neither a finished-looking file nor a .partial is left');
});
