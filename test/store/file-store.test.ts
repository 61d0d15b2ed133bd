import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import type { FileTarget } from '../../src/config/types.ts';
import { PARTIAL_SUFFIX, createFileStore } from '../../src/store/file-store.ts';
import { openStore } from '../../src/store/open-store.ts';
import { storeArtifact, storeJson } from '../../src/store/pipeline.ts';
import { StoreError } from '../../src/store/store.ts';
import { MiB, collect, dataSha256, dataStream, sha256 } from './fixtures/data.ts';

async function folder(t: { teardown(fn: () => unknown): void }): Promise<FileTarget> {
  const root = await mkdtemp(path.join(tmpdir(), 'postmortem-file-store-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return { kind: 'file', root, prefix: 'dumps', source: 'test' };
}

const PREFIX = 'dumps/acme/prod/app/2024-03-05/20240305T070809Z-0-exit-1';

t.test('round trip through the pipeline: raw, compressed, report', async (t) => {
  const target = await folder(t);
  const store = openStore(target, { partSize: 5 * MiB, queueSize: 1 });
  t.equal(store.description, `file://${target.root}/dumps`);

  const raw = await storeArtifact(store, PREFIX, { name: 'core.1', source: dataStream(3 * MiB + 1), contentType: 'application/octet-stream', encoding: 'raw' });
  t.equal(raw.location, path.join(target.root, PREFIX, 'core.1'));
  t.equal(raw.size, 3 * MiB + 1);
  t.equal(raw.sha256, dataSha256(3 * MiB + 1));
  t.equal(raw.storedSha256, raw.sha256);
  t.equal(raw.verified, true);
  t.equal(sha256(await readFile(raw.location)), raw.sha256);

  const gz = await storeArtifact(store, PREFIX, { name: 'app.log', source: dataStream(2 * MiB, 'heapish'), contentType: 'text/plain', encoding: 'compress', gzipLevel: 6 });
  t.equal(gz.name, 'app.log.gz');
  t.equal(gz.contentEncoding, 'gzip');
  const onDisk = await readFile(gz.location);
  t.equal(onDisk.length, gz.storedSize);
  t.equal(sha256(onDisk), gz.storedSha256);
  t.equal(sha256(gunzipSync(onDisk)), dataSha256(2 * MiB, 'heapish'));

  const report = await storeJson(store, `${PREFIX}/report.json`, { artifacts: [raw, gz] });
  t.same(JSON.parse(await readFile(report.location, 'utf8')).artifacts[1].sha256, gz.sha256);

  const listed = [];
  for await (const item of store.list('dumps/acme/')) listed.push(item.key);
  t.same(listed, [`${PREFIX}/app.log.gz`, `${PREFIX}/core.1`, `${PREFIX}/report.json`]);
  const none = [];
  for await (const item of store.list('dumps/other')) none.push(item);
  t.same(none, []);

  t.equal(sha256(await collect(await store.get(`${PREFIX}/core.1`))), raw.sha256);
  t.same(await store.head(`${PREFIX}/core.1`), { size: 3 * MiB + 1, metadata: {} });
  t.equal(await store.head(`${PREFIX}/missing`), undefined);
  const url = await store.url(`${PREFIX}/core.1`, 60);
  t.equal(fileURLToPath(url), raw.location);
  await t.rejects(store.get(`${PREFIX}/missing`), StoreError);
});

t.test('a half-written file stays .partial and is removed when the source fails', async (t) => {
  const target = await folder(t);
  const store = createFileStore(target);
  const key = `${PREFIX}/heap.hprof`;
  const finalPath = path.join(target.root, key);
  let sawPartial = false;
  const source = Readable.from(
    (async function* () {
      yield Buffer.alloc(MiB, 1);
      // While the file is being written, only the .partial exists.
      for (let i = 0; i < 100 && !sawPartial; i++) {
        sawPartial = (await stat(finalPath + PARTIAL_SUFFIX).catch(() => undefined)) !== undefined;
        if (!sawPartial) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      t.equal(await stat(finalPath).catch(() => undefined), undefined, 'no final file yet');
      yield Buffer.alloc(MiB, 2);
      throw new Error('disk of the app vanished');
    })(),
    { objectMode: false },
  );
  const error = await storeArtifact(store, PREFIX, { name: 'heap.hprof', source, contentType: 'application/octet-stream', encoding: 'raw' }).catch((e: unknown) => e);
  t.type(error, StoreError);
  t.match((error as Error).message, /reading heap\.hprof .* failed: disk of the app vanished/);
  t.ok(sawPartial, 'the .partial file existed while writing');
  t.same(await readdir(path.dirname(finalPath)), [], 'neither the file nor its .partial is left');
});

t.test('leftover .partial files are not listed', async (t) => {
  const target = await folder(t);
  const store = createFileStore(target);
  await storeJson(store, `${PREFIX}/report.json`, {});
  await writeFile(path.join(target.root, PREFIX, `heap.hprof${PARTIAL_SUFFIX}`), 'half');
  const listed = [];
  for await (const item of store.list('')) listed.push(item.key);
  t.same(listed, [`${PREFIX}/report.json`]);
});

t.test('keys cannot escape the folder', async (t) => {
  const target = await folder(t);
  const store = createFileStore(target);
  t.throws(() => store.locationOf('../etc/passwd'), StoreError);
  await t.rejects(store.put({ key: 'a/../../x', body: Readable.from([Buffer.from('x')]), contentType: 'text/plain' }), StoreError);
});

t.test('an unwritable root is a StoreError that names the folder', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'postmortem-file-store-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await writeFile(path.join(root, 'file'), 'not a folder');
  const store = createFileStore({ kind: 'file', root: path.join(root, 'file'), prefix: '', source: 'POSTMORTEM_STORE' });
  const error = await storeJson(store, 'a/report.json', {}).catch((e: unknown) => e);
  t.type(error, StoreError);
  t.match((error as Error).message, /folder .*file.*POSTMORTEM_STORE/);
});
