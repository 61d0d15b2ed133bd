import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The buildpack version: VERSION beside the bundle (droplet) or one folder up (checkout). */
export function buildpackVersion(moduleUrl: string): string {
  const here = path.dirname(fileURLToPath(moduleUrl));
  for (const candidate of [path.join(here, 'VERSION'), path.join(here, '..', 'VERSION')]) {
    try {
      return readFileSync(candidate, 'utf8').trim();
    } catch {
      // next candidate
    }
  }
  return 'unknown';
}
