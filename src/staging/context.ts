// The staging phases' inputs, read once from argv (PLATFORM.md, Staging) and validated.
import path from 'node:path';

export interface StagingContext {
  buildDir: string;
  cacheDir: string;
  depsDir: string;
  /** "0", "1", … or zero-padded "00", "01" with ten or more buildpacks. */
  depsIdx: string;
  /** Only for finalize: becomes /home/vcap/profile.d. */
  profileDir?: string;
  /** Root of this buildpack (holds lib/, manifest.yml, VERSION, dependencies/ when cached). */
  buildpackDir: string;
}

export class StagingError extends Error {
  override name = 'StagingError';
}

export function contextFromArgs(phase: 'supply' | 'finalize', argv: readonly string[], buildpackDir: string): StagingContext {
  const [buildDir, cacheDir, depsDir, depsIdx, profileDir] = argv;
  const usage = phase === 'supply'
    ? 'bin/supply BUILD_DIR CACHE_DIR DEPS_DIR DEPS_IDX'
    : 'bin/finalize BUILD_DIR CACHE_DIR DEPS_DIR DEPS_IDX PROFILE_DIR';
  if (!buildDir || !cacheDir || !depsDir || depsIdx === undefined || (phase === 'finalize' && !profileDir)) {
    throw new StagingError(`missing arguments; usage: ${usage}`);
  }
  if (!/^\d+$/.test(depsIdx)) throw new StagingError(`DEPS_IDX must be digits like 0 or 01, got ${JSON.stringify(depsIdx)}`);
  const abs = (p: string) => path.resolve(p);
  return {
    buildDir: abs(buildDir),
    cacheDir: abs(cacheDir),
    depsDir: abs(depsDir),
    depsIdx,
    ...(profileDir ? { profileDir: abs(profileDir) } : {}),
    buildpackDir: abs(buildpackDir),
  };
}

export function depsHome(ctx: StagingContext): string {
  return path.join(ctx.depsDir, ctx.depsIdx);
}
