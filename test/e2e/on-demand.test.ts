// `postmortem dump` from a cf ssh session (the lifecycle shell: same environment, profile.d
// sourced, not wrapped) while the app runs: a live JVM's thread and heap dumps go to the
// store through the attach protocol; a native app is aborted only when asked (--kill).
import t from 'tap';

import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import path from 'node:path';
import { launch, stage } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { freePort } from '../support/ports.ts';
import { testStore } from '../support/test-store.ts';
import { tempDir } from '../support/temp.ts';

const store = await testStore(t, 'ondemand');
const storeEnv = store.env('live');
const get = store.get;

t.test('a live JVM: thread dump and heap dump in the store, the app keeps serving', async (t) => {
  const droplet = await stage({ appDir: await javaApp('Healthy'), env: storeEnv });
  const port = await freePort();
  const app = launch(droplet, { command: 'java -Xmx64m -cp . Healthy', port, env: storeEnv });
  await app.waitFor(/healthy app: listening/);
  const ssh = launch(droplet, { command: 'postmortem dump --json', argv0: '/tmp/lifecycle/shell', port, env: storeEnv });
  const result = await ssh.process;
  t.equal(result.exitCode, 0, ssh.output());
  const report = JSON.parse(result.stdout);
  t.equal(report.reason, 'on-demand');
  t.equal(report.exit, null, 'the app is still running');
  const names = report.artifacts.map((a: { name: string }) => a.name);
  t.ok(names.includes('threads.txt') && names.some((n: string) => n.startsWith('heap.hprof')), names.join(', '));
  const threads = (await get(report.artifacts.find((a: { name: string }) => a.name === 'threads.txt').key)).toString();
  t.match(threads, /"main"/);
  const heap = report.artifacts.find((a: { name: string }) => a.name.startsWith('heap.hprof'));
  const bytes = await get(heap.key);
  const content = heap.compression === 'gzip' ? gunzipSync(bytes) : bytes;
  t.equal(content.subarray(0, 18).toString('latin1'), 'JAVA PROFILE 1.0.2');
  t.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200, 'still serving');
  process.kill(app.pid, 'SIGTERM');
  await app.process;
});

t.test('a native app: refused without --kill; with --kill it is aborted and the watchdog stores its core', async (t) => {
  const dir = await tempDir('pm-native-');
  await execa('cc', ['-g', '-O0', '-o', path.join(dir, 'crasher'), path.resolve('test/fixtures/native/crasher.c')]);
  const droplet = await stage({ appDir: dir, env: storeEnv });
  const app = launch(droplet, { command: './crasher serve', env: { ...storeEnv, POSTMORTEM_GRACE: '0s', POSTMORTEM_MAX_DUMPS: '0' } });
  await app.waitFor(/crasher: serving/);
  const refused = launch(droplet, { command: 'postmortem dump', argv0: '/tmp/lifecycle/shell', env: storeEnv });
  t.equal((await refused.process).exitCode, 1);
  t.match(refused.output(), /is not a JVM: only a core can be had from it, by aborting it \(postmortem dump --kill\)/);
  const killed = launch(droplet, { command: 'postmortem dump --kill', argv0: '/tmp/lifecycle/shell', env: storeEnv });
  t.equal((await killed.process).exitCode, 0);
  t.equal((await app.process).exitCode, 134, 'aborted');
  // The bucket, read with a plain client, holds the core: an ELF core file (e_type 4).
  const cores = (await store.list('live/')).filter((k) => k.endsWith('/core.gz'));
  t.equal(cores.length, 1, `one core in the bucket: ${cores.join(', ')}`);
  const core = gunzipSync(await get(cores[0]!));
  t.equal(core.subarray(0, 4).toString('latin1'), '\x7fELF', 'an ELF file');
  t.equal(core.readUInt16LE(16), 4, 'of type ET_CORE');
});
