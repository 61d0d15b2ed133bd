// Issue 13 end to end, all real: a Java app staged with this buildpack and launched as Cloud
// Foundry does fills its heap with a countable class until OutOfMemoryError. The histogram the
// watchdog computes while the dump streams to S3 must name that class first, with the exact
// number of instances the app counted; the report carries the top and the thread that threw;
// the crash page sits next to it as HTML.
import t from 'tap';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { launch, stage } from '../support/cf.ts';
import { javaApp } from '../support/java.ts';
import { testStore } from '../support/test-store.ts';

const store = await testStore(t, 'heap-histogram');

t.test('the histogram of an OOM dump names the class that filled the heap, with its exact count', async (t) => {
  const appDir = await javaApp('OomCounted');
  const env = store.env('hist');
  const droplet = await stage({ appDir, env });
  const app = launch(droplet, { command: 'java -Xmx48m -XX:-UsePerfData -cp . OomCounted', env: { ...env, POSTMORTEM_GRACE: '0s' } });
  const result = await app.process;
  t.equal(result.exitCode, 1, 'the JVM\'s status');
  const blocks = Number(/^blocks (\d+)$/m.exec(app.output())?.[1]);
  t.ok(blocks > 1000, `the app counted ${blocks} blocks`);
  t.match(app.output(), /\[postmortem\] heap histogram of heap\.hprof(\.gz)?: \d+ objects, .*; top: OomCounted\$Block \(\d+ instances/);
  t.notMatch(app.output(), /parsed in its own thread/, 'the staged watchdog parses inline: no second isolate (issues 10/12)');

  const keys = await store.list('hist/');
  const reportKey = keys.find((k) => k.endsWith('/report.json'))!;
  t.ok(reportKey, `report stored (${keys.join(', ')})`);
  const folder = reportKey.slice(0, -'report.json'.length);
  t.ok(keys.includes(`${folder}histogram.json`), 'histogram.json beside the dump');
  t.ok(keys.includes(`${folder}index.html`), 'index.html beside the report');

  const report = JSON.parse((await store.get(reportKey)).toString('utf8'));
  const summary = report.heapHistograms[0];
  t.match(summary, { file: 'histogram.json', complete: true });
  t.match(summary.artifact, /^heap\.hprof(\.gz)?$/);
  t.same(summary.top[0], { name: 'OomCounted$Block', instances: blocks, bytes: blocks * 144, kind: 'instance' }, 'top entry: the filler, exact count, 144 bytes each (12 + 4 + 16 x 8)');
  t.equal(summary.top.length, 20, 'the top 20 in the report');
  t.equal(summary.outOfMemoryThread.name, 'main', 'the thread that threw, named from the JVM\'s output');
  t.equal(summary.outOfMemoryThread.nameFrom, 'jvm-output');
  t.equal(summary.outOfMemoryThread.frames[0].method, 'java.lang.OutOfMemoryError.<init>', 'the stack from the dump, with HotSpot\'s marker frame on top');
  t.ok(summary.outOfMemoryThread.frames.some((f: { method: string }) => f.method === 'OomCounted.main'), 'and the app\'s frame below it');
  t.ok(report.artifacts.some((a: { name: string }) => a.name === 'histogram.json'), 'histogram.json is an artifact of the crash, with its hashes');

  const histogram = JSON.parse((await store.get(`${folder}histogram.json`)).toString('utf8'));
  t.equal(histogram.entries[0].instances, blocks);
  t.same(histogram.entries.slice(0, 20), summary.top);

  const head = await store.client.send(new HeadObjectCommand({ Bucket: store.bucket, Key: `${folder}index.html` }));
  t.equal(head.ContentType, 'text/html; charset=utf-8', 'the page opens as HTML from the console or a presigned URL');
  const page = (await store.get(`${folder}index.html`)).toString('utf8');
  t.match(page, /OomCounted\$Block/);
  t.match(page, new RegExp(blocks.toLocaleString('en-US')));
});

t.test('POSTMORTEM_HISTOGRAM_THREAD=true: the same exact histogram, parsed in the bundled worker thread', async (t) => {
  const appDir = await javaApp('OomCounted');
  const env = { ...store.env('hist-thread'), POSTMORTEM_HISTOGRAM_THREAD: 'true' };
  const droplet = await stage({ appDir, env });
  const app = launch(droplet, { command: 'java -Xmx48m -XX:-UsePerfData -cp . OomCounted', env: { ...env, POSTMORTEM_GRACE: '0s' } });
  t.equal((await app.process).exitCode, 1, 'the JVM\'s status');
  const blocks = Number(/^blocks (\d+)$/m.exec(app.output())?.[1]);
  t.match(app.output(), /\[postmortem\] heap histogram of heap\.hprof(\.gz)?: .*; top: OomCounted\$Block .*\(parsed in its own thread\)/, 'the thread did the parse');
  const reportKey = (await store.list('hist-thread/')).find((k) => k.endsWith('/report.json'))!;
  const report = JSON.parse((await store.get(reportKey)).toString('utf8'));
  t.same(report.heapHistograms[0].top[0], { name: 'OomCounted$Block', instances: blocks, bytes: blocks * 144, kind: 'instance' }, 'exact, as inline');
});
