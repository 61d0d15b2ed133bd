// A faithful, local reproduction of what Cloud Foundry does with this buildpack
// (../shared/PLATFORM.md): the builder runs bin/supply with the staging directories, a
// libbuildpack-based final buildpack copies deps profile.d scripts as <idx>_<name> and
// writes 000_multi-supply.sh, the droplet is moved to the runtime paths, and the
// launcher sources profile.d scripts with $0=/tmp/lifecycle/launcher, $1=app dir and
// $2=start command before `exec bash -c "$@"`.
import { cp, mkdir, readdir, rename, rm, stat, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';
import { seedStagingCache } from './runtime.ts';
import { tempDir } from './temp.ts';
import { RUN_MARKER, RUN_MARKER_VALUE } from './cleanup.ts';

export const BUILDPACK_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The launcher's own sequence (PLATFORM.md, Launch), as bash runs it. */
export const LAUNCHER_SCRIPT = `cd "$1"
if [ -n "$(ls ../profile.d/* 2> /dev/null)" ]; then
  for env_file in ../profile.d/*; do
    source "$env_file"
  done
fi
if [ -n "$(ls .profile.d/* 2> /dev/null)" ]; then
  for env_file in .profile.d/*; do
    source "$env_file"
  done
fi
if [ -r .profile ]; then
  source .profile
fi
shift
exec bash -c "$@"
`;

export interface StageOptions {
  /** Folder with the app's files (copied, like an uploaded app). */
  appDir: string;
  /** Environment the app has at staging (manifest env, VCAP_SERVICES, …). */
  env?: Record<string, string>;
  depsIdx?: string;
  /** Simulate a final buildpack that does NOT copy deps profile.d (Ruby java-buildpack v4). */
  finalCopiesProfileD?: boolean;
  /** Run bin/finalize too (we are the last buildpack). */
  asFinal?: boolean;
  /**
   * Other buildpacks' deps folders, by index: their profile.d scripts (name -> content), as a
   * supply buildpack listed before us (lower index) or the final Java buildpack (higher) leaves them.
   */
  otherDeps?: Record<string, Record<string, string>>;
  /** The buildpack to stage with (an unpacked zip); default this checkout. */
  buildpackDir?: string;
  /** CACHE_DIR kept between stagings; default a fresh one holding the runtime an earlier
   *  staging downloaded (so staging the checkout needs no network). */
  cacheDir?: string;
  /** Runs bin/supply under this command, e.g. ['unshare', '-n'] (no network). */
  supplyPrefix?: string[];
  /** Called with DEPS_DIR before bin/supply: what earlier buildpacks left there. */
  beforeSupply?: (depsDir: string) => Promise<void>;
}

export interface Droplet {
  /** Root standing in for / of the container: <root>/home/vcap/{app,deps,profile.d,tmp}. */
  root: string;
  home: string;
  appDir: string;
  depsDir: string;
  depsIdx: string;
  stagingOutput: string;
  stagingRoot: string;
}

export async function stage(options: StageOptions): Promise<Droplet> {
  const depsIdx = options.depsIdx ?? '0';
  // Every droplet carries a 125 MB Node.js binary: removed when the staging process exits.
  const work = await tempDir('pm-cf-');
  const stagingRoot = path.join(work, 'staging');
  const dirs = {
    build: path.join(stagingRoot, 'tmp/app'),
    cache: path.join(stagingRoot, 'tmp/cache'),
    deps: path.join(stagingRoot, 'tmp/deps'),
    profile: path.join(stagingRoot, 'tmp/profile.d'),
  };
  for (const d of Object.values(dirs)) await mkdir(d, { recursive: true });
  await mkdir(path.join(dirs.deps, depsIdx), { recursive: true });
  await cp(options.appDir, dirs.build, { recursive: true });
  for (const [idx, scripts] of Object.entries(options.otherDeps ?? {})) {
    await mkdir(path.join(dirs.deps, idx, 'profile.d'), { recursive: true });
    for (const [name, content] of Object.entries(scripts)) await writeFile(path.join(dirs.deps, idx, 'profile.d', name), content);
  }
  if (options.cacheDir) dirs.cache = options.cacheDir;
  else if (!options.buildpackDir) await seedStagingCache(dirs.cache);
  await options.beforeSupply?.(dirs.deps);
  const buildpackDir = options.buildpackDir ?? BUILDPACK_DIR;

  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', CF_STACK: 'cflinuxfs4', ...options.env };
  const [command, ...prefixArgs] = [...(options.supplyPrefix ?? []), path.join(buildpackDir, 'bin/supply')];
  const supply = await execa(command!, [...prefixArgs, dirs.build, dirs.cache, dirs.deps, depsIdx], {
    env, extendEnv: false, all: true, reject: false, stdin: 'ignore',
  });
  let output = supply.all ?? '';
  if (supply.exitCode !== 0) throw new Error(`bin/supply exited ${supply.exitCode}:\n${output}`);
  if (options.asFinal) {
    const fin = await execa(path.join(buildpackDir, 'bin/finalize'), [dirs.build, dirs.cache, dirs.deps, depsIdx, dirs.profile], {
      env, extendEnv: false, all: true, reject: false, stdin: 'ignore',
    });
    output += fin.all ?? '';
    if (fin.exitCode !== 0) throw new Error(`bin/finalize exited ${fin.exitCode}:\n${output}`);
  } else if (options.finalCopiesProfileD !== false) {
    await libbuildpackFinalize(dirs.deps, dirs.profile);
  }

  // The droplet is unpacked at the runtime paths: nothing may refer to the staging ones.
  const root = path.join(work, 'container');
  const home = path.join(root, 'home/vcap');
  await mkdir(home, { recursive: true });
  await rename(dirs.build, path.join(home, 'app'));
  await rename(dirs.deps, path.join(home, 'deps'));
  await rename(dirs.profile, path.join(home, 'profile.d'));
  await mkdir(path.join(home, 'tmp'), { recursive: true });
  await rm(stagingRoot, { recursive: true, force: true });
  return { root, home, appDir: path.join(home, 'app'), depsDir: path.join(home, 'deps'), depsIdx, stagingOutput: output, stagingRoot };
}

/** What libbuildpack's SetLaunchEnvironment does in a final buildpack's finalize. */
async function libbuildpackFinalize(depsDir: string, profileDir: string): Promise<void> {
  const idxs = (await readdir(depsDir)).filter((d) => /^\d+$/.test(d)).sort();
  const lines: string[] = [];
  for (const idx of idxs) {
    if (await exists(path.join(depsDir, idx, 'bin'))) lines.push(`export PATH=$DEPS_DIR/${idx}/bin:$PATH`);
    if (await exists(path.join(depsDir, idx, 'lib'))) {
      lines.push(`export LD_LIBRARY_PATH=$DEPS_DIR/${idx}/lib:$LD_LIBRARY_PATH`);
      lines.push(`export LIBRARY_PATH=$DEPS_DIR/${idx}/lib:$LIBRARY_PATH`);
    }
    const scripts = await readdir(path.join(depsDir, idx, 'profile.d')).catch(() => [] as string[]);
    for (const name of scripts) {
      const from = path.join(depsDir, idx, 'profile.d', name);
      if ((await stat(from)).isFile()) await copyFile(from, path.join(profileDir, `${idx}_${name}`));
    }
  }
  await writeFile(path.join(profileDir, '000_multi-supply.sh'), lines.join('\n') + '\n');
}

export interface LaunchOptions {
  command: string;
  env?: Record<string, string>;
  /** Launch as a task: no CF_INSTANCE_INDEX, VCAP_APPLICATION without instance fields. */
  task?: boolean;
  /** $0 of the sourcing shell; /tmp/lifecycle/launcher for a real launch. */
  argv0?: string;
  instanceIndex?: number;
  port?: number;
  /** Sees the container's output as it arrives (the demo shows it live). */
  echo?: (chunk: Buffer) => void;
  /**
   * The last buildpack's config.entrypoint_prefix: the launcher ends with
   * `exec <prefix> "$@"` instead of `exec bash -c "$@"` (PLATFORM.md, Launch).
   */
  entrypointPrefix?: string;
  /**
   * Run with the droplet at the real /home/vcap (a private mount namespace binds it there)
   * and no DEPS_DIR in the environment, so the scripts' /home/vcap/deps fallback is what runs.
   */
  atHomeVcap?: boolean;
  /** Bash run before the launcher sequence, in the same process (e.g. joining a test cgroup: the container's limit). */
  before?: string;
}

export interface Launched {
  process: ResultPromise<{ all: true; buffer: true; reject: false; stdin: 'ignore' }>;
  pid: number;
  output(): string;
  /** Resolves with the first output line matching the pattern. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** When (Date.now()) the first line matching the pattern arrived, if it did. */
  timeOf(pattern: RegExp): number | undefined;
}

export function runtimeEnv(droplet: Droplet, options: LaunchOptions): Record<string, string> {
  const home = options.atHomeVcap ? '/home/vcap' : droplet.home;
  const index = options.instanceIndex ?? 0;
  const vcapApplication = {
    application_name: 'crashy',
    application_id: '6f1e0a7c-0000-4000-8000-00000000a11d',
    space_name: 'dev',
    organization_name: 'acme',
    limits: { mem: 1024, disk: 1024 },
    ...(options.task ? {} : { instance_index: index, process_type: 'web', instance_id: `guid-${index}` }),
  };
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: path.join(home, 'app'),
    ...(options.atHomeVcap ? {} : { DEPS_DIR: droplet.depsDir }),
    TMPDIR: path.join(home, 'tmp'),
    LANG: 'en_US.UTF-8',
    USER: 'vcap',
    VCAP_APPLICATION: JSON.stringify(vcapApplication),
    VCAP_SERVICES: '{}',
    MEMORY_LIMIT: '1024m',
    ...(options.port ? { PORT: String(options.port), VCAP_APP_PORT: String(options.port) } : {}),
    ...(options.task ? {} : {
      CF_INSTANCE_INDEX: String(index),
      CF_INSTANCE_GUID: `guid-${index}`,
      CF_INSTANCE_IP: '127.0.0.1',
      INSTANCE_INDEX: String(index),
    }),
    ...options.env,
    // Not the platform's: lets test/support/cleanup.ts find this launch's whole process tree.
    [RUN_MARKER]: RUN_MARKER_VALUE,
  };
}

/** Starts the app as Diego does: launcher sequence, then exec of the (possibly rewritten) command. */
export function launch(droplet: Droplet, options: LaunchOptions): Launched {
  const script = options.entrypointPrefix ? LAUNCHER_SCRIPT.replace(/^exec bash -c "\$@"$/m, `exec ${options.entrypointPrefix} "$@"`) : LAUNCHER_SCRIPT;
  const launcherArgs = ['-c', script, options.argv0 ?? '/tmp/lifecycle/launcher', options.atHomeVcap ? '/home/vcap/app' : droplet.appDir, options.command];
  // Steps before the launcher run in an outer bash that then execs it: same process, so the
  // launcher keeps the pid we were given (the container's top process). At /home/vcap the
  // droplet is bound there inside a private mount namespace (unshare execs, too).
  const prelude = [
    options.before,
    options.atHomeVcap ? `mkdir -p /home/vcap && mount --bind '${droplet.home.replace(/'/g, `'\\''`)}' /home/vcap` : undefined,
  ].filter(Boolean).join('\n');
  const bashArgs = prelude ? ['bash', '-c', `${prelude}\nexec bash "$@"`, 'prelude', ...launcherArgs] : ['bash', ...launcherArgs];
  const [file, ...args] = options.atHomeVcap ? ['unshare', '--mount', '--propagation', 'private', ...bashArgs] : bashArgs;
  const child = execa(file!, args, {
    env: runtimeEnv(droplet, options),
    extendEnv: false,
    all: true,
    buffer: true,
    reject: false,
    cwd: options.atHomeVcap ? '/' : droplet.appDir,
    stdin: 'ignore', // a socket on stdin would make bash source ~/.bashrc (its "remote shell" rule)
  });
  let text = '';
  const arrivals: { at: number; line: string }[] = [];
  let partial = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  child.all?.on('data', (chunk: Buffer) => {
    options.echo?.(chunk);
    text += chunk.toString();
    const now = Date.now();
    const pieces = (partial + chunk.toString()).split('\n');
    partial = pieces.pop() ?? '';
    for (const line of pieces) arrivals.push({ at: now, line });
    for (const w of [...waiters]) {
      const line = text.split('\n').find((l) => w.pattern.test(l));
      if (line !== undefined) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line); }
    }
  });
  return {
    process: child,
    pid: child.pid!,
    output: () => text,
    timeOf: (pattern) => arrivals.find((a) => pattern.test(a.line))?.at,
    waitFor(pattern, timeoutMs = 60_000) {
      const found = text.split('\n').find((l) => pattern.test(l));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output so far:\n${text}`)), timeoutMs);
        waiters.push({ pattern, resolve: (line) => { clearTimeout(timer); resolve(line); } });
      });
    },
  };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}
