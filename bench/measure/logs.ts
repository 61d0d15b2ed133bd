// 5. Log pass-through. A native app writes numbered lines to stdout as fast as it can for
// logSeconds; we read the instance's stdout as the platform's log agent would and check
// every line arrives once and in order. Through the watchdog (staged with this buildpack)
// vs the same droplet layout without it, alternating. Two writers: 64 KiB writes (stdio's
// full buffering, the most a pipe carries) and one write per line (a logger flushing
// each line, like System.out.println). With 64 KiB writes a third launch measures the floor
// of any relay written in Node.js: the app piped through a minimal stdin-to-stdout Node.js
// process (same runtime), no watchdog.
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { LAUNCHER_SCRIPT, runtimeEnv, type Droplet } from '../../test/support/cf.ts';
import type { Bench } from '../lib/context.ts';
import { killTree, within } from '../lib/proc.ts';
import { row, type Row } from '../lib/results.ts';
import { median } from '../lib/stats.ts';

/** Checks a stream of "NNNNNNNNNNNN …" lines ending with "done <count>", without keeping them. */
class LineChecker {
  next = 0;
  bytes = 0;
  problems = 0;
  firstProblem: string | undefined;
  done: number | undefined;
  firstAt: number | undefined;
  doneAt: number | undefined;
  #carry: Buffer = Buffer.alloc(0);

  feed(chunk: Buffer): void {
    // After "done" only the stop's output follows (a JVM's thread dump on SIGTERM, by design).
    if (this.done !== undefined) return;
    const now = performance.now();
    this.firstAt ??= now;
    this.bytes += chunk.length;
    const buf = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk;
    let pos = 0;
    for (;;) {
      const nl = buf.indexOf(10, pos);
      if (nl < 0) break;
      if (buf[pos] === 0x64 /* d */) {
        this.done = Number(buf.toString('latin1', pos + 5, nl));
        this.doneAt = now;
        break;
      } else {
        let value = 0;
        for (let i = pos; i < pos + 12; i++) value = value * 10 + (buf[i]! - 48);
        if (value !== this.next) {
          this.problems += 1;
          this.firstProblem ??= `line ${this.next} expected, ${value} arrived`;
        }
        this.next = value + 1;
      }
      pos = nl + 1;
    }
    this.#carry = Buffer.from(buf.subarray(pos));
  }
}

interface Pass { lines: number; bytes: number; seconds: number; ok: boolean; problem?: string }

/** A relay that only copies stdin to stdout, with back-pressure (the least a Node.js relay does). */
const RELAY = 'process.stdin.on("data", (c) => { if (!process.stdout.write(c)) { process.stdin.pause(); process.stdout.once("drain", () => process.stdin.resume()); } })';

type Via = 'watchdog' | 'direct' | 'relay';

/** Launches the writer through the launcher sequence and reads the instance's stdout to the end. */
type Mode = 'block' | 'line' | 'jvm';

async function pass(droplet: Droplet, env: Record<string, string>, seconds: number, mode: Mode, via: Via): Promise<Pass> {
  const writer = mode === 'jvm' ? `java -Xmx64m -XX:+UseSerialGC -XX:-UsePerfData -cp . Lines ${seconds}` : `./lines ${seconds} ${mode}`;
  const command = via === 'relay' ? `${writer} | exec "$BENCH_RELAY_NODE" -e '${RELAY}'` : `exec ${writer}`;
  const child = spawn('bash', ['-c', LAUNCHER_SCRIPT, '/tmp/lifecycle/launcher', droplet.appDir, command], {
    env: runtimeEnv(droplet, { command, env }), cwd: droplet.appDir, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid!;
  const checker = new LineChecker();
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-8000); });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  try {
    await within(new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        checker.feed(chunk);
        if (checker.done !== undefined) resolve();
      });
      child.once('close', () => reject(new Error(`the instance ended before "done"; stderr:\n${stderr}`)));
    }), (seconds + 60) * 1000, 'the log writer');
    // A stop, as the platform sends it; the relay's shell pipeline has no one to pass it on.
    if (via === 'relay') await killTree(pid);
    else process.kill(pid, 'SIGTERM');
    await within(closed, 15_000, `the instance stopping (${mode} via ${via})`);
  } catch (error) {
    // What the instance said up to the timeout (the watchdog's stop lines, if it was one).
    if (error instanceof Error && !error.message.includes('stderr')) error.message += `; stderr's end: ${JSON.stringify(stderr.slice(-600))}`;
    await killTree(pid);
    throw error;
  }
  const lines = checker.next;
  const ok = checker.problems === 0 && checker.done === lines;
  const problem = checker.firstProblem ?? (checker.done !== lines ? `writer wrote ${String(checker.done)} lines, ${lines} arrived` : undefined);
  return { lines, bytes: checker.bytes, seconds: (checker.doneAt! - checker.firstAt!) / 1000, ok, ...(problem ? { problem } : {}) };
}

export async function measureLogs(b: Bench): Promise<Row[]> {
  const appDir = await mkdtemp(path.join(b.tmp, 'lines-app-'));
  await execa('cc', ['-O2', '-o', path.join(appDir, 'lines'), path.join(import.meta.dirname, '../fixtures/lines.c')]);
  await execa('javac', ['-d', appDir, path.join(import.meta.dirname, '../fixtures/Lines.java')]);
  const droplet = await b.stage({ appDir, env: b.storeEnv('logs') });
  const plain = await b.plainDroplet(appDir);
  const seconds = b.sizes.logSeconds;
  const group = `5. log pass-through (an app writing numbered lines for ${seconds} s)`;
  const rate = (ps: Pass[]) => ps.map((p) => p.lines / p.seconds);
  const mps = (p: Pass) => `${(p.lines / p.seconds / 1e6).toFixed(2)} M lines/s${p.ok ? '' : ` (${p.problem})`}`;
  const rows: Row[] = [];
  for (const mode of ['block', 'line', 'jvm'] as const) {
    const runs: Record<Via, Pass[]> = { watchdog: [], direct: [], relay: [] };
    const vias: Via[] = mode === 'block' ? ['watchdog', 'direct', 'relay'] : ['watchdog', 'direct'];
    for (let round = 0; round < b.sizes.rounds; round++) {
      const order = vias.map((_, i) => vias[(i + round) % vias.length]!);
      for (const via of order) {
        const env = via === 'watchdog' ? b.storeEnv('logs') : via === 'relay' ? { BENCH_RELAY_NODE: b.node } : {};
        runs[via].push(await pass(via === 'watchdog' ? droplet : plain, env, seconds, mode, via));
      }
      b.log(`  ${mode} #${round + 1}: ${vias.map((v) => `${v} ${mps(runs[v].at(-1)!)}`).join(', ')}`);
    }
    const all = vias.flatMap((v) => runs[v]);
    const broken = all.filter((p) => !p.ok);
    const ours = runs.watchdog;
    const label = mode === 'block' ? '64 KiB writes' : mode === 'line' ? 'one write per line' : 'a JVM, System.out.println per line';
    const lineBytes = Math.round(ours.reduce((a, p) => a + p.bytes, 0) / ours.reduce((a, p) => a + p.lines, 0));
    const r = row({
      id: `logs.${mode}`, group,
      measurement: `lines/s through the watchdog, ${label}`, unit: 'lines/s',
      ours: median(rate(ours)), reference: median(rate(runs.direct)), referenceLabel: 'direct, same launcher without the buildpack',
      target: { on: 'ratio', op: '>=', value: 0.9 }, runs: { ours: rate(ours), reference: rate(runs.direct) },
      note: broken.length === 0
        ? `every line arrived once and in order in all ${all.length} runs (${ours.reduce((a, p) => a + p.lines, 0)} lines of ${lineBytes} bytes on average through the watchdog)`
        : `LOST OR REORDERED LINES in ${broken.length} runs: ${broken.map((p) => p.problem).join('; ')}`,
    });
    if (broken.length > 0) r.met = false;
    rows.push(r);
    if (mode === 'block') {
      rows.push(row({
        id: 'logs.relay-floor', group, measurement: 'the floor of any Node.js relay: a bare stdin-to-stdout copy, 64 KiB writes', unit: 'lines/s',
        ours: median(rate(runs.relay)), reference: median(rate(runs.direct)), referenceLabel: 'direct',
        runs: { ours: rate(runs.relay), reference: rate(runs.direct) },
      }));
    }
  }
  return rows;
}
