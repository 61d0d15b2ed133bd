// The pinned Node.js runtime for tests, demo and bench, from the download cache that
// scripts/fetch-runtime.mjs fills once (`npm test` and `npm run demo` run it first): staging the
// checkout must not reach the network on every run.
import { copyFile, link, mkdir, mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { fetchDependency, readManifest, type ManifestDependency } from '../../scripts/fetch-runtime.mjs';

/** Where bin/supply keeps the downloaded runtime in CACHE_DIR (bin/runtime.sh). */
export const CACHE_SUBDIR = 'postmortem-runtime';

export async function nodeDependency(): Promise<ManifestDependency> {
  const dep = (await readManifest()).dependencies.find((d) => d.name === 'node');
  if (!dep) throw new Error('manifest.yml has no node dependency');
  return dep;
}

/** The verified tarball at the manifest's uri, from the download cache. */
export async function runtimeTarball(): Promise<string> {
  return fetchDependency(await nodeDependency(), () => undefined);
}

/** CACHE_DIR as an earlier staging left it: the runtime tarball, so staging needs no network. */
export async function seedStagingCache(cacheDir: string): Promise<void> {
  const dep = await nodeDependency();
  const into = path.join(cacheDir, CACHE_SUBDIR);
  await mkdir(into, { recursive: true });
  const target = path.join(into, path.posix.basename(new URL(dep.uri).pathname));
  const tgz = await runtimeTarball();
  await link(tgz, target).catch(() => copyFile(tgz, target));
}

/** The runtime's node binary extracted below a fresh folder of parent. */
export async function extractRuntime(parent: string): Promise<string> {
  const dir = await mkdtemp(path.join(parent, 'runtime-'));
  await execa('tar', ['-xzf', await runtimeTarball(), '-C', dir, 'package/bin/node']);
  return path.join(dir, 'package/bin/node');
}
