// Ceph RADOS Gateway for integration tests: a disposable single-node cluster (one monitor, one
// bluestore OSD, radosgw on 127.0.0.1) started by test/support/rgw/start.sh in a fresh temp
// folder on free ports. Every cluster gets a reaper (rgw/reap.sh, detached) that stops it and
// removes its folder once the owning process is gone, so an interrupted or killed test run
// leaves nothing behind; stop() does the same at once.
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';

const SCRIPTS = fileURLToPath(new URL('./rgw/', import.meta.url));

/** What start.sh and the tests run, from the apt packages radosgw, ceph-mon, ceph-osd and ceph-common. */
const TOOLS = ['ceph', 'ceph-authtool', 'monmaptool', 'ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'rados'];

export const RGW_INSTALL_HINT = 'apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common';

/** Connection data of a running cluster; plain data, so it can be handed to other processes. */
export interface RgwInfo {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Key id for SSE-KMS, served by RGW's built-in "testing" KMS backend. */
  kmsKeyId: string;
  /** The cluster's folder (ceph.conf, logs, OSD data). */
  dir: string;
  /** For the Ceph CLIs (`rados --conf …`), to look behind the S3 API. */
  cephConf: string;
  /** The detached reaper that cleans up if the owner dies without calling stop(). */
  reaperPid: number;
}

export interface Rgw extends RgwInfo {
  /** Kills every daemon and removes the folder. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface StartRgwOptions {
  /** The OSD's object store; bluestore (default) is what production runs, memstore starts ~3 s faster. */
  objectstore?: 'bluestore' | 'memstore';
  /** The process whose end stops the cluster if stop() is never called. Default: this process. */
  ownerPid?: number;
  /** More files for the reaper to remove along with the folder (e.g. a file announcing the cluster). */
  reaperAlsoRemoves?: string[];
  /** Bound on start-up, default 120 s (it takes ~5 s). */
  readyTimeoutMs?: number;
  /** Folder for the cluster's temp folder, default os.tmpdir(). */
  parentDir?: string;
}

/** radosgw and friends are not installed: the RGW tests cannot run on this machine. */
export class RgwUnavailableError extends Error {
  override name = 'RgwUnavailableError';
}

/** Names of the executables missing from PATH; empty when a cluster can be started. */
export function missingRgwTools(env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  const dirs = (env['PATH'] ?? '').split(path.delimiter).filter(Boolean);
  return TOOLS.filter(
    (tool) =>
      !dirs.some((dir) => {
        try {
          accessSync(path.join(dir, tool), constants.X_OK);
          return true;
        } catch {
          return false;
        }
      }),
  );
}

export async function startRgw(options: StartRgwOptions = {}): Promise<Rgw> {
  const missing = missingRgwTools();
  if (missing.length > 0) {
    throw new RgwUnavailableError(`Ceph RGW is not installed (missing ${missing.join(', ')}); install it with: ${RGW_INSTALL_HINT}`);
  }
  const timeoutMs = options.readyTimeoutMs ?? 120_000;
  const dir = await mkdtemp(path.join(options.parentDir ?? tmpdir(), 'postmortem-rgw-'));
  const reaperPid = startReaper(options.ownerPid ?? process.pid, dir, options.reaperAlsoRemoves ?? []);
  const ports = await distinctFreePorts(3);
  const args = ['--dir', dir, '--rgw-port', ports[0], '--mon-port', ports[1], '--mon-v1-port', ports[2]].map(String);
  args.push('--objectstore', options.objectstore ?? 'bluestore', '--timeout', String(Math.ceil(timeoutMs / 1000)));
  let info: RgwInfo;
  try {
    await runStartScript(args, timeoutMs);
    const s3 = JSON.parse(await readFile(path.join(dir, 's3.json'), 'utf8')) as Omit<RgwInfo, 'dir' | 'cephConf' | 'reaperPid'>;
    info = { ...s3, dir, cephConf: path.join(dir, 'ceph.conf'), reaperPid };
  } catch (error) {
    const logs = await logTails(dir);
    await stopRgw({ dir, reaperPid });
    throw new Error(`Ceph RGW did not start: ${(error as Error).message}${logs}`, { cause: error });
  }
  let stopping: Promise<void> | undefined;
  return { ...info, stop: () => (stopping ??= stopRgw(info)) };
}

/** Stops a cluster started by startRgw, also from another process (the tap after-script). */
export async function stopRgw(info: Pick<RgwInfo, 'dir' | 'reaperPid'>): Promise<void> {
  // Only while that PID is still our reaper: it may have finished, and its PID been reused.
  const cmdline = await readFile(`/proc/${info.reaperPid}/cmdline`, 'utf8').catch(() => '');
  if (cmdline.includes('reap.sh') && cmdline.includes(info.dir)) {
    try {
      process.kill(info.reaperPid, 'SIGKILL');
    } catch {
      // it just finished
    }
  }
  await execScript('stop.sh', ['--dir', info.dir], 30_000);
  await rm(info.dir, { recursive: true, force: true });
}

function startReaper(ownerPid: number, dir: string, alsoRemove: string[]): number {
  const args = [path.join(SCRIPTS, 'reap.sh'), '--owner', String(ownerPid), '--dir', dir, ...alsoRemove.flatMap((file) => ['--also', file])];
  const reaper = spawn('bash', args, { detached: true, stdio: 'ignore' });
  reaper.unref();
  if (reaper.pid === undefined) throw new Error('could not start the RGW reaper (bash)');
  return reaper.pid;
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** Runs start.sh; its progress lines go to the error message when it fails. */
function runStartScript(args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(SCRIPTS, 'start.sh'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`not ready within ${timeoutMs / 1000} s\n${output}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`start.sh ended with ${signal ?? `exit code ${String(code)}`}\n${output}`));
    });
  });
}

function execScript(name: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('bash', [path.join(SCRIPTS, name), ...args], { timeout: timeoutMs }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`${name} ${args.join(' ')} failed: ${stderr || error.message}`, { cause: error }));
      else resolve();
    });
  });
}

/** The last lines of each daemon's log, for a start-up failure message. */
async function logTails(dir: string): Promise<string> {
  const names = ['mon.a.log', 'osd.0.log', 'client.rgw.test.log', 'daemons.out', 'osd-mkfs.out'];
  const tails = await Promise.all(
    names.map(async (name) => {
      const text = await readFile(path.join(dir, 'log', name), 'utf8').catch(() => '');
      const lines = text.trimEnd().split('\n').slice(-15).join('\n');
      return lines ? `\n--- ${name} (last lines)\n${lines}` : '';
    }),
  );
  return tails.join('');
}
