// What a test file leaves behind is removed however the file ends: a clean exit, a failed
// assertion, or tap's timeout signalling the process (signal-exit covers all three). Temp
// folders are removed (a filesystem a test mounted there is unmounted first); every process
// a test launched through the platform harness carries a marker variable in its environment, so its whole tree (launcher, watchdog, JVM, and
// anything that escaped to another process group) is found and killed even after its
// parents are gone.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { onExit } from 'signal-exit';

/** The marker variable and this file's value of it. */
export const RUN_MARKER = 'POSTMORTEM_TEST_OWNER';
export const RUN_MARKER_VALUE = `${process.pid}-${Date.now()}`;

const dirs = new Set<string>();
const mounts = new Set<string>();

export function removeOnExit(dir: string): void {
  dirs.add(dir);
}

/** A filesystem a test mounted (a small tmpfs): lazily unmounted before the folders are removed. */
export function unmountOnExit(dir: string): void {
  mounts.add(dir);
}

/** Pids of live processes whose environment carries this file's marker. */
export function markedProcesses(): number[] {
  const needle = Buffer.from(`${RUN_MARKER}=${RUN_MARKER_VALUE}\0`);
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`).includes(needle)) pids.push(Number(name));
    } catch {
      // gone already, or not ours to read
    }
  }
  return pids;
}

function cleanUp(): void {
  for (const pid of markedProcesses()) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  for (const dir of mounts) {
    try { execFileSync('umount', ['-l', dir], { stdio: 'ignore' }); } catch { /* not mounted (any more) */ }
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

onExit(() => { cleanUp(); }, { alwaysLast: true });
