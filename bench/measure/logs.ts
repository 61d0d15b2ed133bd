// 5. Log pass-through. A native app writes numbered lines to stdout as fast as it can for
// logSeconds; we read the instance's stdout as the platform's log agent would and check
// every line arrives once and in order. Through the watchdog (staged with this buildpack)
// vs the same droplet layout without it, alternating. Two writers: 64 KiB writes (stdio's
// full buffering, the most a pipe carries) and one write per line (a logger flushing
// each line, like System.out.println).
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

/** Launches `exec ./lines …` through the launcher sequence and reads its stdout to the end. */
async function pass(droplet: Droplet, env: Record<string, string>, seconds: number, mode: 'block' | 'line'): Promise<Pass> {
  const command = `exec ./lines ${seconds} ${mode}`;
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
    process.kill(pid, 'SIGTERM');
    await within(closed, 15_000, 'the instance stopping');
  } catch (error) {
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
  const droplet = await b.stage({ appDir, env: b.storeEnv('logs') });
  const plain = await b.plainDroplet(appDir);
  const rows: Row[] = [];
  for (const mode of ['block', 'line'] as const) {
    const ours: Pass[] = [];
    const direct: Pass[] = [];
    for (let round = 0; round < b.sizes.rounds; round++) {
      const runOurs = async () => ours.push(await pass(droplet, b.storeEnv('logs'), b.sizes.logSeconds, mode));
      const runDirect = async () => direct.push(await pass(plain, {}, b.sizes.logSeconds, mode));
      if (round % 2 === 0) { await runOurs(); await runDirect(); } else { await runDirect(); await runOurs(); }
      b.log(`  ${mode} #${round + 1}: through the watchdog ${(ours.at(-1)!.lines / ours.at(-1)!.seconds / 1e6).toFixed(2)} M lines/s${ours.at(-1)!.ok ? '' : ` (${ours.at(-1)!.problem})`}, direct ${(direct.at(-1)!.lines / direct.at(-1)!.seconds / 1e6).toFixed(2)} M lines/s`);
    }
    const rate = (ps: Pass[]) => ps.map((p) => p.lines / p.seconds);
    const broken = [...ours, ...direct].filter((p) => !p.ok);
    const label = mode === 'block' ? '64 KiB writes' : 'one write per line';
    rows.push(row({
      id: `logs.${mode}`, group: `5. log pass-through (an app writing numbered lines for ${b.sizes.logSeconds} s)`,
      measurement: `lines/s through the watchdog, ${label}`, unit: 'lines/s',
      ours: median(rate(ours)), reference: median(rate(direct)), referenceLabel: 'direct, same launcher without the buildpack',
      target: { on: 'ratio', op: '>=', value: 0.9 }, runs: { ours: rate(ours), reference: rate(direct) },
      note: broken.length === 0
        ? `every line arrived once and in order in all ${ours.length + direct.length} runs (${ours.reduce((a, p) => a + p.lines, 0)} lines through the watchdog, ${Math.round(ours.reduce((a, p) => a + p.bytes, 0) / ours.reduce((a, p) => a + p.lines, 0))} bytes each on average)`
        : `LOST OR REORDERED LINES in ${broken.length} runs: ${broken.map((p) => p.problem).join('; ')}`,
    }));
    if (broken.length > 0) rows.at(-1)!.met = false;
  }
  return rows;
}
