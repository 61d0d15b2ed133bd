// The app's pid, recorded by the watchdog for `postmortem dump` in cf ssh sessions.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/types.ts';

export function appPidFile(config: Config): string {
  return path.join(config.dumpDir, 'app.pid');
}

export async function findAppPid(config: Config): Promise<number | undefined> {
  const text = await readFile(appPidFile(config), 'utf8').catch(() => undefined);
  const pid = Number(text?.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
