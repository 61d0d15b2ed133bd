// One Ceph RGW per test run, shared by every test file. tap runs test/support/tap-before.ts
// before the first test file and tap-after.ts after the last one, each as a child of the tap
// runner, like the test files themselves. So the runner's PID (process.ppid in all of them)
// names the run: the before-script starts the cluster and writes what it got to a state file
// named after that PID; test files read it; the after-script stops the cluster. The cluster's
// reaper watches the runner, so Ctrl-C or a killed runner also stops it and removes the file.
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RgwUnavailableError, startRgw, stopRgw, type RgwInfo } from '../rgw.ts';

export type SharedRgwState =
  /** Running; `readyMs` is how long start-up took. */
  | { status: 'ready'; rgw: RgwInfo; readyMs: number }
  /** Not installed here: tests skip (or fail when CI=true). */
  | { status: 'unavailable'; reason: string }
  /** Installed but did not start: tests fail with the reason. */
  | { status: 'failed'; reason: string };

export function sharedStatePath(runnerPid: number): string {
  return path.join(tmpdir(), `postmortem-rgw-for-run-${runnerPid}.json`);
}

/** For the before-script: starts the run's cluster and records the outcome, whatever it is. */
export async function startSharedRgw(runnerPid = process.ppid, now: () => number = Date.now): Promise<SharedRgwState> {
  const file = sharedStatePath(runnerPid);
  const started = now();
  let state: SharedRgwState;
  try {
    const rgw = await startRgw({ ownerPid: runnerPid, reaperAlsoRemoves: [file] });
    const { stop: _stop, ...info } = rgw;
    state = { status: 'ready', rgw: info, readyMs: now() - started };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    state = error instanceof RgwUnavailableError ? { status: 'unavailable', reason } : { status: 'failed', reason };
  }
  // Written whole, then renamed: a reader never sees half a file.
  await writeFile(`${file}.partial`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${file}.partial`, file);
  return state;
}

/** For test files: the run's cluster, or undefined when no before-script ran (a file run alone). */
export async function readSharedRgw(runnerPid = process.ppid): Promise<SharedRgwState | undefined> {
  let text: string;
  try {
    text = await readFile(sharedStatePath(runnerPid), 'utf8');
  } catch {
    return undefined;
  }
  return JSON.parse(text) as SharedRgwState;
}

/** For the after-script: stops the run's cluster (if it started) and removes the state file. */
export async function stopSharedRgw(runnerPid = process.ppid): Promise<SharedRgwState | undefined> {
  const state = await readSharedRgw(runnerPid);
  if (state?.status === 'ready') await stopRgw(state.rgw);
  await rm(sharedStatePath(runnerPid), { force: true });
  return state;
}
