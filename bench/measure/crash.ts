// 1. Crash to verified evidence in the store. A real JVM (-Xmx1g) fills its heap with the
// demo's inventory records until OutOfMemoryError:
//   ours:      staged with this buildpack and launched like Diego does; from the JVM's
//              "Dumping heap to" line to our "stored heap.hprof…" line (size confirmed by
//              the store), and to "crash report ->".
//   reference: the same JVM with plain -XX:+HeapDumpOnOutOfMemoryError, no buildpack; from
//              "Dumping heap to" to "Heap dump file created", then `rclone copy` (64M x4) or
//              `aws s3 cp` of the file. The two tools take turns going first on a fresh dump.
// Also: stored bytes against the dump's size, and the peak disk the dump took in the
// container's tmp (sampled from outside while it runs). Each round also runs ours with
// POSTMORTEM_COMPRESSION=zstd (issue 12), rows beside the default gzip's: the same path, and the
// watchdog's CPU seconds per GiB of dump for both. The limit these rows run into: the whole
// machine's CPU from "Dumping heap to" to stored (every process), as time at 100% of its cores,
// and what the compression pass alone costs on this dump (bench/compress.ts, one process).
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { launch, BUILDPACK_DIR } from '../../test/support/cf.ts';
import type { Bench } from '../lib/context.ts';
import { oursEnv } from '../lib/ours-env.ts';
import { sampleDiskPeak } from '../lib/disk.ts';
import { TICKS_PER_SECOND } from '../lib/machine-cpu.ts';
import { sampleCpuSplit, type CpuSplit } from '../lib/process-cpu.ts';
import { DEFLATE_ONLY, SHA256_ONLY } from '../compress.ts';
import { killTree, sampleMemoryPeak, spawnWatched, within } from '../lib/proc.ts';
import { row, type Row } from '../lib/results.ts';
import { formatBytes, formatSeconds, median, MiB } from '../lib/stats.ts';

const JVM_TIMEOUT_MS = 300_000;
const COMPRESS_SCRIPT = path.join(import.meta.dirname, '../compress.ts');

interface OursRun { crashMs: number; reportMs: number; jvmDumpMs: number; dumpBytes: number; storedBytes: number; diskPeak: number; anonPeak: number; rssPeak: number; cpuTicks: number; strategy: string; fileDisk: string; floorMs: number; busyShare: number; split: CpuSplit }

interface RefRun { dumpMs: number; rcloneMs: number; awsMs: number; dumpBytes: number; diskPeak: number; file: string; jvmDumpCpu: number }

export async function measureCrash(b: Bench): Promise<Row[]> {
  const appDir = await b.compileJava(path.join(BUILDPACK_DIR, 'demo/app'), ['Inventory']);
  const droplet = await b.stage({ appDir, env: b.storeEnv('crash') });
  const ours: OursRun[] = [];
  const oursZstd: OursRun[] = [];
  const refs: RefRun[] = [];

  async function runOurs(round: number, compression: 'gzip' | 'zstd' = 'gzip'): Promise<void> {
    const prefix = `crash/ours-${compression}-${round}`;
    const disk = sampleDiskPeak([path.join(droplet.home, 'tmp')]);
    const app = launch(droplet, { command: `java -Xmx${b.sizes.heap} -cp . Inventory`, env: { ...b.storeEnv(prefix), POSTMORTEM_GRACE: '0s', ...oursEnv(), ...(compression === 'zstd' ? { POSTMORTEM_COMPRESSION: 'zstd' } : {}) } });
    // app.pid is the watchdog (the launcher exec'd it): its memory while it follows the dump.
    const memory = sampleMemoryPeak(app.pid);
    const split = sampleCpuSplit(app.pid);
    let diskPeak = 0;
    let memoryPeak = { anon: 0, rss: 0, cpuTicks: 0 };
    let splitOf: Awaited<ReturnType<typeof split.stop>> | undefined;
    try {
      await within(app.process, JVM_TIMEOUT_MS, 'the staged JVM running out of heap');
    } catch (error) {
      await killTree(app.pid);
      throw error;
    } finally {
      diskPeak = (await disk.stop()).peakBytes;
      memoryPeak = memory.stop();
      splitOf = await split.stop();
    }
    const out = app.output();
    const dumpAt = app.timeOf(/Dumping heap to/);
    const createdAt = app.timeOf(/Heap dump file created/);
    const storedAt = app.timeOf(/\[postmortem\] stored heap\.hprof/);
    const reportAt = app.timeOf(/\[postmortem\] crash report ->/);
    // On a loaded machine a GC-spiral capture may come first (its own report): the dump's report is the last.
    const reportKey = [...out.matchAll(/crash report -> s3:\/\/[^/]+\/(\S+)/g)].at(-1)?.[1];
    if (dumpAt === undefined || createdAt === undefined || storedAt === undefined || reportAt === undefined || !reportKey) {
      throw new Error(`ours, round ${round}: the expected lines are missing; output:\n${out.slice(-4000)}`);
    }
    const report = JSON.parse(await b.bucket.text(reportKey)) as { artifacts: { name: string; key: string; size: number; storedSize: number; storedSha256: string; verified: boolean }[] };
    const heap = report.artifacts.find((a) => a.name.startsWith('heap'));
    if (!heap) throw new Error(`ours, round ${round}: no heap dump in the report ${reportKey}; output:\n${out.slice(-3000)}`);
    if (!heap.verified) throw new Error(`ours, round ${round}: heap dump stored but not verified`);
    const size = await b.bucket.size(heap.key);
    if (size !== heap.storedSize) throw new Error(`ours, round ${round}: ${heap.key} has ${String(size)} bytes in the store, the report says ${heap.storedSize}`);
    if (round === 0) {
      const sha = await b.bucket.sha256(heap.key);
      if (sha !== heap.storedSha256) throw new Error(`ours: ${heap.key} sha256 ${sha} differs from the report's ${heap.storedSha256}`);
    }
    // The watchdog's own lines: which strategy it chose, and what the dump file took on disk.
    const strategy = /heap dumps: (.*)/.exec(out)?.[1] ?? 'not logged';
    const fileDisk = /hprof: (took up to .*)/.exec(out)?.[1] ?? 'not logged';
    if (compression === 'zstd' && !heap.name.endsWith('.zst')) throw new Error(`ours (zstd), round ${round}: stored ${heap.name}, not a .zst`);
    // The machine's CPU in the crash window (stolen time included, as ever), as time at 100% of every core.
    if (!splitOf) throw new Error('no CPU samples');
    const window = splitOf.between(dumpAt, storedAt);
    const floorMs = ((window.machine + window.steal) / availableParallelism()) * 1000;
    const run = { split: window, crashMs: storedAt - dumpAt, reportMs: reportAt - dumpAt, jvmDumpMs: createdAt - dumpAt, dumpBytes: heap.size, storedBytes: heap.storedSize, diskPeak, anonPeak: memoryPeak.anon, rssPeak: memoryPeak.rss, cpuTicks: memoryPeak.cpuTicks, strategy, fileDisk, floorMs, busyShare: floorMs / (storedAt - dumpAt) };
    b.log(`  ours${compression === 'zstd' ? ' (zstd)' : ''} #${round + 1}: dump started -> stored ${formatSeconds(run.crashMs)}, report ${formatSeconds(run.reportMs)} (JVM wrote it in ${formatSeconds(run.jvmDumpMs)}), ${formatBytes(run.dumpBytes)} as ${formatBytes(run.storedBytes)}, disk peak ${formatBytes(diskPeak)} (${(diskPeak / heap.storedSize).toFixed(2)}x stored; dump file ${fileDisk}), watchdog peak RSS ${formatBytes(run.rssPeak)} (anonymous ${formatBytes(run.anonPeak)}), CPU ${memoryPeak.cpuTicks} ticks in all; machine ${(run.busyShare * 100).toFixed(0)}% busy from dump start to stored (${formatSeconds(floorMs)} at 100% of ${availableParallelism()} cores; CPU s in that window: ${describeSplit(window)})`);
    (compression === 'zstd' ? oursZstd : ours).push(run);
    await b.purge(prefix);
  }

  async function runReference(round: number, keep: boolean): Promise<void> {
    const dir = await mkdtemp(path.join(b.tmp, 'ref-dump-'));
    const disk = sampleDiskPeak([dir]);
    const jvm = spawnWatched('java', [`-Xmx${b.sizes.heap}`, '-XX:+HeapDumpOnOutOfMemoryError', `-XX:HeapDumpPath=${dir}`, '-cp', appDir, 'Inventory'], { cwd: dir });
    const split = sampleCpuSplit(jvm.pid, { rootIsApp: true, everyMs: 50, clock: () => performance.now() });
    let run: RefRun;
    try {
      const dumpAt = await jvm.waitFor(/Dumping heap to/, JVM_TIMEOUT_MS);
      const createdAt = await jvm.waitFor(/Heap dump file created/, JVM_TIMEOUT_MS);
      // The JVM's own CPU to write its dump plain: what any path pays before the first byte is stored.
      const jvmDumpCpu = (await split.stop()).between(dumpAt, createdAt).app;
      const file = /Dumping heap to (\S+)/.exec(jvm.output())?.[1];
      if (!file) throw new Error('reference JVM: no dump path in its output');
      const prefix = `crash/ref-${round}`;
      const upload = {
        rclone: () => b.uploaders.rclone(file, `${prefix}/rclone`),
        aws: () => b.uploaders.aws(file, `${prefix}/aws/${path.basename(file)}`),
      };
      // Whoever goes first starts the moment the JVM says the dump is complete.
      const order = round % 2 === 0 ? (['rclone', 'aws'] as const) : (['aws', 'rclone'] as const);
      const first = await upload[order[0]]();
      await within(jvm.exited, JVM_TIMEOUT_MS, 'the reference JVM exiting');
      const diskPeak = (await disk.stop()).peakBytes;
      const second = await upload[order[1]]();
      const ms = { [order[0]]: first.wallMs, [order[1]]: second.wallMs } as Record<'rclone' | 'aws', number>;
      const dumpBytes = (await stat(file)).size;
      for (const key of [`${prefix}/rclone/${path.basename(file)}`, `${prefix}/aws/${path.basename(file)}`]) {
        const size = await b.bucket.size(key);
        if (size !== dumpBytes) throw new Error(`reference, round ${round}: ${key} has ${String(size)} bytes in the store, the file ${dumpBytes}`);
      }
      run = { dumpMs: createdAt - dumpAt, rcloneMs: ms.rclone, awsMs: ms.aws, dumpBytes, diskPeak, file, jvmDumpCpu };
      b.log(`  reference #${round + 1}: JVM wrote ${formatBytes(dumpBytes)} in ${formatSeconds(run.dumpMs)} (${jvmDumpCpu.toFixed(2)} CPU s), then rclone ${formatSeconds(run.rcloneMs)}, aws ${formatSeconds(run.awsMs)} (${order[0]} first)`);
      refs.push(run);
      await b.purge(prefix);
    } catch (error) {
      await killTree(jvm.pid);
      await disk.stop();
      await split.stop().catch(() => undefined);
      throw error;
    }
    if (keep) {
      b.shared.heapDump = run.file;
      b.cleanup.push(dir);
    } else {
      await rm(dir, { recursive: true, force: true });
    }
  }

  for (let round = 0; round < b.sizes.rounds; round++) {
    const last = round === b.sizes.rounds - 1;
    if (round % 2 === 0) { await runOurs(round); await runReference(round, last); await runOurs(round, 'zstd'); }
    else { await runOurs(round, 'zstd'); await runReference(round, last); await runOurs(round); }
  }

  // The compression pass alone over the kept dump (content sha256, level-1 blocks on the pool,
  // stored sha256: the watchdog's pass minus following the file and the upload), one process
  // on the watchdog's runtime, nothing else running: CPU seconds the codec costs on this dump.
  const passCpu = async (variant: string): Promise<number> => {
    const dump = b.shared.heapDump;
    if (!dump) return NaN;
    const size = (await stat(dump)).size;
    const { stdout } = await execa(b.node, [COMPRESS_SCRIPT, '--one', variant, dump, String(size)], { timeout: JVM_TIMEOUT_MS });
    return (JSON.parse(stdout) as { cpuSeconds: number }).cpuSeconds;
  };
  const gzipPass = await passCpu('parallel 1 MiB');
  const zstdPass = await passCpu('zstd-1 parallel 1 MiB');
  // The floor's parts: the codec alone (no hash at all) and the content sha256 alone.
  const deflateOnly = await passCpu(DEFLATE_ONLY);
  const sha256Only = await passCpu(SHA256_ONLY);
  b.log(`  compression pass alone over the kept dump: gzip level 1 ${gzipPass.toFixed(1)} CPU s, zstd level 1 ${zstdPass.toFixed(1)} CPU s; deflate level 1 with no hash ${deflateOnly.toFixed(1)} CPU s, the content sha256 alone ${sha256Only.toFixed(1)} CPU s`);

  const g = '1. crash to verified evidence in the store';
  const m = (xs: number[]) => median(xs);
  const oursCrash = ours.map((r) => r.crashMs);
  const rcloneTotal = refs.map((r) => r.dumpMs + r.rcloneMs);
  const awsTotal = refs.map((r) => r.dumpMs + r.awsMs);
  const storedShare = ours.map((r) => r.storedBytes / r.dumpBytes);
  const diskPerStored = ours.map((r) => r.diskPeak / r.storedBytes);
  const oursDisk = ours.map((r) => r.diskPeak);
  const heapLabel = `-Xmx${b.sizes.heap}`;
  const rssPeaks = ours.map((r) => r.rssPeak);
  const anonPeaks = ours.map((r) => r.anonPeak);
  // What POSTMORTEM_MEMORY_RESERVE should ask for: the measured peak, rounded up to 8 MiB.
  const reserve = Math.ceil(Math.max(...rssPeaks) / (8 * MiB)) * 8 * MiB;
  const zstdCrash = oursZstd.map((r) => r.crashMs);
  const cores = availableParallelism();
  // The limit of the crash rows: the machine's CPU in the crash window as time at 100% of every
  // core, against the same reference, so its ratio reads next to the target's.
  const floorRow = (id: string, codec: string, runs: OursRun[], passSeconds: number): Row => {
    const floors = runs.map((r) => r.floorMs);
    const targetMs = 0.45 * m(rcloneTotal);
    const floor = m(floors);
    return row({
      id, group: g, unit: 'ms',
      measurement: `limit of the row above (${codec}): the machine's CPU from "Dumping heap to" to stored (JVM, watchdog, RGW: every process), as time at 100% of its ${cores} cores`,
      ours: floor, reference: m(rcloneTotal), referenceLabel: 'plain dump, then rclone copy 64M x4',
      runs: { ours: floors, reference: rcloneTotal },
      note: `the machine was ${(m(runs.map((r) => r.busyShare)) * 100).toFixed(0)}% busy in that window (median); ` +
        `0.45x is ${formatSeconds(targetMs)}, ${floor > targetMs ? `below this floor: not reachable on ${cores} cores without less work` : 'above this floor'}; ` +
        `0.6x of the aws path is ${formatSeconds(0.6 * m(awsTotal))}; the compression pass alone (content and stored sha256, ${codec} in 1 MiB blocks, nothing else running) costs ${passSeconds.toFixed(1)} CPU s on this dump, ${formatSeconds((passSeconds / cores) * 1000)} of all ${cores} cores`,
    });
  };
  // The floor no implementation gets under on this machine: the work a crash -> verified .gz path
  // cannot skip, spread over every core with nothing idle. The JVM writing its dump plain (its own
  // CPU in the reference runs, which pay it too), deflate level 1 and the content sha256 over the
  // dump with nothing else (no reading from a growing file, no parsing, no upload plumbing), and
  // the store taking the compressed bytes (Ceph's CPU in our crash windows).
  // The JVM's part is the lower of its CPU alone and beside us (with the dump punched out
  // behind the reader its page cache stays small, and it has measured lower beside us).
  const jvmDumpCpu = m(refs.map((r) => r.jvmDumpCpu));
  const jvmBesideUs = m(ours.map((r) => r.split.app));
  const jvmFloor = Math.min(jvmDumpCpu, jvmBesideUs);
  const storeCpu = m(ours.map((r) => r.split.store));
  const workFloorMs = ((jvmFloor + deflateOnly + sha256Only + storeCpu) / cores) * 1000;
  // In ms, so that the rows read as seconds of CPU.
  const cpuPart = (pick: (s: CpuSplit) => number) => ours.map((r) => pick(r.split) * 1000);
  const cpuPerGiB = (runs: OursRun[]) => runs.map((r) => r.cpuTicks / TICKS_PER_SECOND / (r.dumpBytes / 1024 ** 3));
  return [
    row({
      id: 'crash.watchdog-anon', group: g, measurement: 'watchdog peak anonymous RSS while it follows and uploads the dump the JVM is writing (runtime heap included; no shared text pages)', unit: 'bytes',
      ours: m(anonPeaks), target: { on: 'ours', op: '<=', value: 96 * MiB }, runs: { ours: anonPeaks },
      note: 'judged on RssAnon, the watchdog\'s own memory: what counts against the container\'s limit and cannot be reclaimed (issue 10: "anonymous RSS, not shared text pages")',
    }),
    row({
      id: 'crash.watchdog-rss', group: g, measurement: 'the same in all (RSS with the runtime\'s shared text pages, which the kernel can drop)', unit: 'bytes',
      ours: m(rssPeaks), runs: { ours: rssPeaks },
      note: `reserve this asks for (POSTMORTEM_MEMORY_RESERVE): the highest total peak rounded up to 8 MiB = ${formatBytes(reserve)}`,
    }),
    row({
      id: 'crash.vs-rclone', group: g, measurement: `JVM ${heapLabel} OOM: "Dumping heap to" -> heap dump stored and verified`, unit: 'ms',
      ours: m(oursCrash), reference: m(rcloneTotal), referenceLabel: 'plain dump, then rclone copy 64M x4',
      target: { on: 'ratio', op: '<=', value: 0.45 }, runs: { ours: oursCrash, reference: rcloneTotal },
    }),
    row({
      id: 'crash.vs-aws', group: g, measurement: 'same, against aws s3 cp', unit: 'ms',
      ours: m(oursCrash), reference: m(awsTotal), referenceLabel: 'plain dump, then aws s3 cp',
      target: { on: 'ratio', op: '<=', value: 0.6 }, runs: { ours: oursCrash, reference: awsTotal },
    }),
    floorRow('crash.floor', 'gzip level 1 (default)', ours, gzipPass),
    row({
      id: 'crash.work-floor', group: g, unit: 'ms',
      measurement: `the floor under any implementation (gzip level 1): the work no crash -> verified .gz path can skip (the JVM's plain dump, deflate and the content sha256 over the dump, the store's share) at 100% of its ${cores} cores`,
      ours: workFloorMs, reference: m(rcloneTotal), referenceLabel: 'plain dump, then rclone copy 64M x4',
      runs: { ours: [workFloorMs], reference: rcloneTotal },
      note: `CPU s: the JVM's dump ${jvmFloor.toFixed(2)} (the lower of ${jvmDumpCpu.toFixed(2)} plain without us and ${jvmBesideUs.toFixed(2)} beside us), deflate level 1 alone ${deflateOnly.toFixed(2)}, content sha256 alone ${sha256Only.toFixed(2)}, the store ${storeCpu.toFixed(2)}; ` +
        `0.45x of the rclone path is ${formatSeconds(0.45 * m(rcloneTotal))}, 0.6x of the aws path ${formatSeconds(0.6 * m(awsTotal))}`,
    }),
    row({
      id: 'crash.cpu-watchdog', group: g, unit: 'ms',
      measurement: 'CPU seconds from "Dumping heap to" to stored (gzip): the watchdog, against deflate and the content sha256 alone over the same dump',
      ours: m(cpuPart((x) => x.watchdog)), reference: (deflateOnly + sha256Only) * 1000, referenceLabel: 'deflate level 1 + sha256, one process, nothing else',
      runs: { ours: cpuPart((x) => x.watchdog) },
    }),
    row({
      id: 'crash.cpu-jvm', group: g, unit: 'ms',
      measurement: 'the same window: the JVM writing its dump, against its plain dump without us',
      ours: m(cpuPart((x) => x.app)), reference: jvmDumpCpu * 1000, referenceLabel: 'plain -XX:+HeapDumpOnOutOfMemoryError',
      runs: { ours: cpuPart((x) => x.app), reference: refs.map((r) => r.jvmDumpCpu * 1000) },
    }),
    row({
      id: 'crash.cpu-store', group: g, unit: 'ms',
      measurement: 'the same window: the store (radosgw, the OSD, the monitor) and everything else (the bench, the kernel\'s threads)',
      ours: storeCpu * 1000, runs: { ours: cpuPart((x) => x.store) },
      note: `everything else: ${(m(cpuPart((x) => x.machine - x.watchdog - x.app - x.store)) / 1000).toFixed(2)} CPU s (median)`,
    }),
    row({
      id: 'crash.report', group: g, measurement: '"Dumping heap to" -> report.json stored (ours) vs rclone path', unit: 'ms',
      ours: m(ours.map((r) => r.reportMs)), reference: m(rcloneTotal), referenceLabel: 'rclone path',
      runs: { ours: ours.map((r) => r.reportMs), reference: rcloneTotal },
    }),
    row({
      id: 'crash.zstd-vs-rclone', group: g, measurement: `same with POSTMORTEM_COMPRESSION=zstd (level 1, .hprof.zst)`, unit: 'ms',
      ours: m(zstdCrash), reference: m(rcloneTotal), referenceLabel: 'plain dump, then rclone copy 64M x4',
      target: { on: 'ratio', op: '<=', value: 0.45 }, runs: { ours: zstdCrash, reference: rcloneTotal },
    }),
    floorRow('crash.zstd-floor', 'zstd level 1', oursZstd, zstdPass),
    row({
      id: 'crash.zstd-vs-gzip', group: g, measurement: 'POSTMORTEM_COMPRESSION=zstd against the default gzip: "Dumping heap to" -> stored and verified', unit: 'ms',
      ours: m(zstdCrash), reference: m(oursCrash), referenceLabel: 'ours, gzip level 1 (default)',
      runs: { ours: zstdCrash, reference: oursCrash },
    }),
    row({
      id: 'crash.cpu-per-gib', group: g, measurement: 'watchdog CPU seconds per GiB of dump (all its threads, start to exit), zstd against gzip', unit: 's/GiB',
      ours: m(cpuPerGiB(oursZstd)), reference: m(cpuPerGiB(ours)), referenceLabel: 'ours, gzip level 1 (default)',
      runs: { ours: cpuPerGiB(oursZstd), reference: cpuPerGiB(ours) },
      note: `stored / dump: zstd ${m(oursZstd.map((r) => r.storedBytes / r.dumpBytes)).toFixed(3)}, gzip ${m(storedShare).toFixed(3)}`,
    }),
    row({
      id: 'crash.jvm-dump', group: g, measurement: 'of which the JVM writing its dump (with us as POSTMORTEM_DUMP_COMPRESSION chose, plain without)', unit: 'ms',
      ours: m(ours.map((r) => r.jvmDumpMs)), reference: m(refs.map((r) => r.dumpMs)), referenceLabel: 'plain -XX:+HeapDumpOnOutOfMemoryError',
      runs: { ours: ours.map((r) => r.jvmDumpMs), reference: refs.map((r) => r.dumpMs) },
    }),
    row({
      id: 'crash.stored-share', group: g, measurement: `dump bytes stored / heap dump size (${formatBytes(m(ours.map((r) => r.dumpBytes)))} dump)`, unit: 'x',
      ours: m(storedShare), reference: 1, referenceLabel: 'rclone and aws store it as is',
      target: { on: 'ours', op: '<=', value: 0.30 }, runs: { ours: storedShare },
    }),
    row({
      id: 'crash.disk-peak', group: g, measurement: 'peak disk used in the container tmp (allocated blocks, sampled every 50 ms)', unit: 'bytes',
      ours: m(oursDisk), reference: m(refs.map((r) => r.diskPeak)), referenceLabel: 'plain dump',
      runs: { ours: oursDisk, reference: refs.map((r) => r.diskPeak) },
      note: `heap dumps: ${ours[0]?.strategy ?? 'strategy not logged'}`,
    }),
    row({
      id: 'crash.disk-per-stored', group: g, measurement: 'peak disk during the crash / compressed (stored) size of the dump', unit: 'x',
      ours: m(diskPerStored), target: { on: 'ours', op: '<=', value: 1.5 }, runs: { ours: diskPerStored },
      note: `the dump file's own peak as the watchdog saw it: ${ours.map((r) => r.fileDisk).join('; ')}`,
    }),
  ];
}

function describeSplit(split: CpuSplit): string {
  const other = split.machine - split.watchdog - split.app - split.store;
  return `watchdog ${split.watchdog.toFixed(2)}, JVM ${split.app.toFixed(2)}, store ${split.store.toFixed(2)}, other ${other.toFixed(2)}; stolen by the hypervisor ${split.steal.toFixed(2)}`;
}
