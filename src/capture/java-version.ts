// Which JVMs can the app start? Read from the `release` file every JDK/JRE image carries
// (JAVA_VERSION="17.0.15"), looked up where the Java buildpacks put them. Used only to
// decide whether flags newer than JDK 8 are safe to add.
// Synchronous: it runs before the app is spawned, where a trip through the thread pool per
// file only makes the app start later on a busy machine.
import { readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Env } from '../config/types.ts';

export async function findJavaMajors(env: Env, appDir: string): Promise<number[]> {
  const homes = new Set<string>();
  if (env.JAVA_HOME) homes.add(env.JAVA_HOME);
  for (const dir of (env.PATH ?? '').split(':')) {
    if (!dir) continue;
    // Asked first without an exception: a throw per PATH folder cost ~2.5 ms before the spawn
    // (the first ones in a process are slow), most folders having no java.
    const candidate = path.join(dir, 'java');
    const java = quietly(() => (statSync(candidate, { throwIfNoEntry: false }) ? realpathSync(candidate) : undefined));
    if (java) {
      homes.add(path.resolve(java, '../..'));
      homes.add(path.resolve(java, '../../..')); // JDK 8: jre/bin/java
    }
  }
  // Ruby java-buildpack v4 puts the JRE under the app's .java-buildpack/<name>/
  for (const entry of quietly(() => readdirSync(path.join(appDir, '.java-buildpack'))) ?? []) {
    homes.add(path.join(appDir, '.java-buildpack', entry));
  }
  const majors: number[] = [];
  for (const home of homes) {
    const text = quietly(() => readFileSync(path.join(home, 'release'), 'utf8'));
    const major = text ? javaMajor(text) : undefined;
    if (major !== undefined) majors.push(major);
  }
  return majors;
}

/** The value, or undefined where the file is not there or not readable. */
function quietly<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** JAVA_VERSION="1.8.0_402" → 8, "17.0.15" → 17, "21" → 21. */
export function javaMajor(releaseFile: string): number | undefined {
  const m = /^JAVA_VERSION="?([0-9._]+)/m.exec(releaseFile);
  if (!m) return undefined;
  const parts = m[1]!.split('.');
  const first = Number(parts[0]);
  return first === 1 ? Number(parts[1]) : first;
}
