// The crash page (issue 13) in a real browser: Debian's Chromium driven by playwright-core. A
// real JVM runs out of heap (its dump holds an exactly counted class), a real Crash stores the
// dump, histogram, report and page into a local folder store, and Chromium opens the page from
// there: the figures must be the report's, and the log tail — carrying <script> and an
// onerror image on purpose — must show as text with nothing executed and nothing fetched.
// A screenshot is kept in test-artifacts/crash-page.png (gitignored).
import t from 'tap';
import { access, mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { chromium } from 'playwright-core';
import { Crash } from '../../src/capture/crash.ts';
import { PAGE_CSP, renderCrashPage } from '../../src/capture/crash-page.ts';
import { parseConfig } from '../../src/config/parse.ts';
import { createFileStore } from '../../src/store/file-store.ts';
import { memoryEventLog } from '../../src/util/event-log.ts';
import { classifyDeath } from '../../src/watchdog/death.ts';
import { javaApp } from '../support/java.ts';
import { skipOrFailInCi } from '../support/requirements.ts';
import { tempDir } from '../support/temp.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.resolve('test-artifacts');
const HOSTILE = [
  'worker: order 17 done',
  '<script>alert("log");window.__pwned = 1</script>',
  '<img src="x" onerror="alert(\'img\');window.__pwned2 = 1">',
  'https://bob:hunter2secret@db.example.com/orders',
  '\x1b[31mred\x1b[0m & "quoted"',
].join('\n');

async function oomCrash() {
  const app = await javaApp('OomCounted');
  const dir = await tempDir('pm-page-');
  t.teardown(() => rm(app, { recursive: true, force: true }));
  const run = await execa('java', ['-Xmx16m', '-XX:+HeapDumpOnOutOfMemoryError', `-XX:HeapDumpPath=${dir}/java.hprof`, '-cp', app, 'OomCounted'], { reject: false, all: true });
  const blocks = Number(/^blocks (\d+)$/m.exec(run.all ?? '')?.[1]);
  const root = path.join(dir, 'store');
  const { config } = parseConfig({
    POSTMORTEM_STORE: `file://${root}`, TMPDIR: dir, CF_INSTANCE_INDEX: '3',
    VCAP_APPLICATION: JSON.stringify({ application_name: 'shop<i>x</i>', space_name: 'dev', organization_name: 'acme' }),
  });
  const store = createFileStore({ kind: 'file', root, prefix: '', source: 'test' });
  const crash = new Crash({ config, store: async () => store, log: memoryEventLog(), now: () => new Date('2026-11-30T10:00:00Z'), buildpackVersion: 't', startedAt: new Date('2026-11-30T09:00:00Z') }, 'oom');
  const { createReadStream } = await import('node:fs');
  crash.add({ name: 'heap.hprof', source: createReadStream(`${dir}/java.hprof`), contentType: 'application/octet-stream', encoding: 'compress', gzipLevel: 1 });
  const logTail = Buffer.from(`${HOSTILE}\n${run.all ?? ''}\n`);
  const report = await crash.finish({ death: classifyDeath({ exitCode: 1, stopRequested: false, outOfMemory: true, fatalError: false }), diedAt: new Date('2026-11-30T10:00:01Z'), logTail });
  return { blocks, root, crash, report: report!, logTail };
}

t.test('the crash page in Chromium: the report\'s figures, nothing executed, nothing fetched', async (t) => {
  if (!(await access(CHROMIUM).then(() => true, () => false))) return skipOrFailInCi(t, `${CHROMIUM} is missing (apt-get install chromium; scripts/install-system-deps.sh does)`);
  const { blocks, root, crash, report } = await oomCrash();
  t.ok(blocks > 100, `the app counted ${blocks} blocks`);
  const file = path.join(root, crash.prefix, 'index.html');
  const html = await readFile(file, 'utf8');
  t.match(html, `content="${PAGE_CSP.replace(/'/g, '&#39;')}"`, 'CSP meta: no script, no remote anything');
  t.notMatch(html, /<script/i, 'no script element in the page');
  t.notMatch(html, /hunter2secret/, 'the password in the log tail is redacted');

  const profile = await tempDir('pm-chromium-');
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(() => browser.close());
  const page = browser.pages()[0] ?? (await browser.newPage());
  const dialogs: string[] = [];
  const requests: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  page.on('request', (r) => requests.push(r.url()));
  const url = pathToFileURL(file).href;
  await page.goto(url, { waitUntil: 'load' });

  t.equal(await page.title(), 'shop<i>x</i> #3: oom', 'title, the app name as text');
  t.equal(await page.locator('h1').innerText(), 'shop<i>x</i> crashed: oom');
  const firstRow = await page.locator('table.hist tbody tr').first().locator('td').allInnerTexts();
  t.same(firstRow.slice(0, 4), ['1', 'OomCounted$Block', blocks.toLocaleString('en-US'), (blocks * 144).toLocaleString('en-US')], 'first row: the filler with the exact count and bytes');
  const summary = (report as unknown as { heapHistograms: { top: unknown[] }[] }).heapHistograms[0]!;
  t.equal(await page.locator('table.hist tbody tr').count(), summary.top.length, 'a row per entry of the report\'s top');
  t.equal(await page.locator('svg.chart rect').count(), summary.top.length, 'a bar per entry');
  const widths = await page.locator('svg.chart rect').evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('width'))));
  t.ok(widths[0]! >= Math.max(...widths), 'the longest bar is the biggest class');
  const thrower = await page.locator('#thrower').innerText();
  t.match(thrower, /"main"/, 'the thread that threw, by name');
  t.match(thrower, /at OomCounted\.main\(OomCounted\.java:\d+\)/, 'with its stack');
  const tail = await page.locator('#log-tail').innerText();
  t.match(tail, '<script>alert("log");window.__pwned = 1</script>', 'the script shows as text');
  t.match(tail, '<img src="x" onerror=', 'the image shows as text');
  t.match(tail, 'https://***:***@db.example.com/orders', 'credentials in URLs redacted as in the event log');
  t.match(tail, 'red & "quoted"', 'terminal escapes dropped');
  t.equal(await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned), undefined, 'the script never ran');
  t.equal(await page.evaluate(() => (globalThis as { __pwned2?: unknown }).__pwned2), undefined, 'the onerror never ran');
  t.same(dialogs, [], 'no dialog opened');
  t.same(requests, [url], 'the page fetched nothing but itself');
  const heap = report.artifacts.find((a) => a.name === 'heap.hprof.gz')!;
  const artifacts = await page.locator('#artifacts').innerText();
  t.match(artifacts, heap.sha256, 'sha256 of the dump');
  t.match(artifacts, `postmortem get ${crash.prefix}`, 'the fetch command for the whole crash');
  t.match(artifacts, /histogram\.json/);
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, 'crash-page.png'), fullPage: true });
});

t.test('fields other parts add (OOM kind, container memory) are shown when present; S3 fetch commands', async (t) => {
  const { report } = await oomCrash();
  // The shapes the watchdog writes: oomKind (oom-kind.ts) and containerMemory (memory-death.ts).
  const withExtras = {
    ...report,
    store: 's3://crash-dumps',
    reason: 'container-oom',
    oomKind: { kind: 'direct-buffer', message: 'Cannot reserve 1048576 bytes of direct buffer memory', what: 'direct buffer memory', hint: 'bounded by -XX:MaxDirectMemorySize' },
    containerMemory: { limit: 1073741824, peak: 1073700000, verdict: { killed: true, evidence: 'memory.oom_control oom_kill 0 -> 1' }, unreadable: [], processes: [], jvms: [] },
  };
  const html = renderCrashPage(withExtras as unknown as typeof report, "it's <b>done</b>");
  t.match(html, /oomKind kind<\/th><td>direct-buffer/);
  t.match(html, /oomKind hint<\/th><td>bounded by -XX:MaxDirectMemorySize/);
  t.match(html, /containerMemory limit<\/th><td>1 GiB \(1073741824 bytes\)/);
  t.match(html, /containerMemory verdict killed<\/th><td>true/);
  const heap = report.artifacts.find((a) => a.name === 'heap.hprof.gz')!;
  t.match(html, `aws s3 cp s3://crash-dumps/${heap.key} ./heap.hprof.gz`);
  t.match(html, 'it&#39;s &lt;b&gt;done&lt;/b&gt;', 'log tail escaped');
  const plain = renderCrashPage({ ...report, artifacts: [], failed: [] } as typeof report);
  t.match(plain, '(no output)');
});
