// What the benchmark ran on: the figures only mean something next to it.
import os from 'node:os';
import { execa } from 'execa';

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  benchNode: string;
  runtimeNode: string;
  java: string;
  rclone: string;
  awscli: string;
  ceph: string;
  loadAverageStart: number[];
  loadAverageEnd: number[];
}

async function firstLine(file: string, args: string[], env?: Record<string, string | undefined>): Promise<string> {
  const r = await execa(file, args, { reject: false, all: true, timeout: 30_000, ...(env ? { env, extendEnv: false } : {}) });
  return (r.all ?? '').split('\n').find((l) => l.trim() !== '')?.trim() ?? `${file}: not available`;
}

export async function describeMachine(runtimeNode: string, toolEnv: Record<string, string | undefined>): Promise<Machine> {
  const cpus = os.cpus();
  const [java, rclone, awscli, ceph, runtime] = await Promise.all([
    firstLine('java', ['-version']),
    firstLine('rclone', ['version'], toolEnv),
    firstLine('aws', ['--version'], toolEnv),
    firstLine('radosgw', ['--version']),
    firstLine(runtimeNode, ['--version']),
  ]);
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    benchNode: process.version,
    runtimeNode: runtime,
    java,
    rclone,
    awscli,
    ceph: ceph.replace(/\s*\([0-9a-f]{40}\)/, ''),
    loadAverageStart: os.loadavg(),
    loadAverageEnd: [],
  };
}
