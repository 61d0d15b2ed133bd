// Temporary folders for a test file, removed however its process ends (cleanup.ts): runs
// must not leave droplets, cores and heap dumps behind (a run writes gigabytes).
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { removeOnExit } from './cleanup.ts';

export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  removeOnExit(dir);
  return dir;
}
