// The watchdog's Node.js runtime in the droplet. bin/supply (bash, bin/runtime.sh) already
// put a verified runtime in place, or found an earlier buildpack's, and runs this phase on it;
// here we only name what launch will run, and install a hand-picked POSTMORTEM_NODE
// (development), which must run here and be new enough.
import { chmod, copyFile, mkdir, realpath, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { Env } from '../config/types.ts';
import { LAYOUT } from '../launch/profile-script.ts';

export const MIN_NODE_MAJOR = 20;

export interface InstalledRuntime {
  /** The node launch runs, relative to $DEPS_DIR (e.g. "1/node/bin/node"). */
  fromDepsDir: string;
  version: string;
  /** What bin/supply said about where it came from. */
  origin: string;
  /** True when an earlier buildpack's Node.js is used and none was added. */
  reused: boolean;
}

export interface RuntimeInputs {
  env: Env;
  depsIdx: string;
  depsDir: string;
  /** The node running this phase and its version (process.execPath, process.version). */
  running: { path: string; version: string };
}

export async function installRuntime(inputs: RuntimeInputs): Promise<InstalledRuntime> {
  const { env, depsIdx, depsDir } = inputs;
  const ours = `${depsIdx}/${LAYOUT.node}`;
  const origin = env.POSTMORTEM_RUNTIME_ORIGIN;
  if (!origin) throw new Error('no runtime: run this phase through bin/supply, which installs the Node.js runtime first');
  if (env.POSTMORTEM_NODE) {
    const dest = path.join(depsDir, ours);
    await copyExecutable(env.POSTMORTEM_NODE, dest);
    return { fromDepsDir: ours, version: await runnableVersion(dest), origin: `POSTMORTEM_NODE ${env.POSTMORTEM_NODE}`, reused: false };
  }
  const reused = env.POSTMORTEM_REUSED_NODE;
  if (reused) {
    // A path inside the droplet's deps folder, resolved against $DEPS_DIR at launch.
    if (!/^\d+\/[\w./-]+$/.test(reused) || reused.split('/').includes('..')) {
      throw new Error(`POSTMORTEM_REUSED_NODE must be a path below DEPS_DIR like 0/node/bin/node, got ${JSON.stringify(reused)}`);
    }
    return { fromDepsDir: reused, version: inputs.running.version, origin, reused: true };
  }
  const installed = await realpath(path.join(depsDir, ours)).catch(() => path.join(depsDir, ours));
  if ((await realpath(inputs.running.path)) !== installed) {
    throw new Error(`staging runs on ${inputs.running.path}, not on the runtime bin/supply installed at ${path.join(depsDir, ours)}`);
  }
  return { fromDepsDir: ours, version: inputs.running.version, origin, reused: false };
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
  await mkdir(path.dirname(to), { recursive: true });
  const tmp = `${to}.partial`;
  await copyFile(from, tmp);
  await chmod(tmp, 0o755);
  await rename(tmp, to);
}
