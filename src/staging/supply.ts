// lib/supply.mjs (run by bin/supply on the runtime it installed): the watchdog and the profile.d
// takeover into DEPS_DIR/DEPS_IDX. A mistake in our configuration is a warning here, never a failed push.
import { chmod, cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Env } from '../config/types.ts';
import { ConfigError } from '../config/types.ts';
import { parseConfig } from '../config/parse.ts';
import { LAYOUT, renderProfileScript } from '../launch/profile-script.ts';
import type { StagingContext } from './context.ts';
import { depsHome } from './context.ts';
import type { StagingLog } from './log.ts';
import { installRuntime } from './runtime.ts';

export interface SupplyDeps {
  env: Env;
  log: StagingLog;
  version: string;
  /** The node running this phase: process.execPath and process.version. */
  running: { path: string; version: string };
}

export async function supply(ctx: StagingContext, deps: SupplyDeps): Promise<void> {
  const { log, env } = deps;
  const home = depsHome(ctx);
  await mkdir(home, { recursive: true });

  // bin/supply printed the version header and the runtime step, and put the runtime in place.
  const runtime = await installRuntime({ env, depsIdx: ctx.depsIdx, depsDir: ctx.depsDir, running: deps.running });
  log.info(`Node.js ${runtime.version}: ${runtime.origin}`);

  log.step('Installing the crash watchdog');
  const watchdogHome = path.join(home, path.dirname(LAYOUT.watchdog));
  await cp(path.join(ctx.buildpackDir, 'lib'), watchdogHome, { recursive: true, dereference: true });
  await writeFile(path.join(watchdogHome, 'VERSION'), `${deps.version}\n`);
  await writeExecutable(path.join(home, LAYOUT.cli), cliShim(runtime.fromDepsDir));
  await writeFile(path.join(home, 'config.yml'), stringify({ name: 'postmortem', version: deps.version, config: {} }));

  const script = renderProfileScript({ depsIdx: ctx.depsIdx, buildpackVersion: deps.version, node: runtime.fromDepsDir });
  await writeExecutable(path.join(home, LAYOUT.profileScript), script);
  // The Ruby java-buildpack (v4) never copies deps profile.d scripts: the app's own
  // .profile.d is sourced by every launcher. The script's guard makes the two act once.
  // bin/finalize copies the first one to PROFILE_DIR when we are the last buildpack.
  await writeExecutable(path.join(ctx.buildDir, LAYOUT.appProfileScript), script);
  log.info(`Start command is taken over at launch by ${LAYOUT.profileScript} (and .profile.d for buildpacks that do not copy it)`);

  checkConfig(env, log);
}

function checkConfig(env: Env, log: StagingLog): void {
  log.step('Checking crash capture settings');
  try {
    const { config, warnings } = parseConfig(env);
    for (const w of warnings) log.warning(w);
    const target = config.store.kind === 's3' ? `s3://${config.store.bucket}/${config.store.prefix}` : `file://${config.store.root}`;
    log.info(`store: ${target} (${config.store.source})`);
    log.info(`hold after a crash: ${Math.round(config.graceMs / 1000)} s`);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const strict = /^(true|1|yes)$/i.test(env.POSTMORTEM_STRICT ?? '');
    const lines = error.problems.map((p) => `- ${p}`).join('\n');
    if (strict) {
      log.error(`crash capture settings are invalid (POSTMORTEM_STRICT=true fails the push):\n${lines}`);
      throw error;
    }
    log.warning(`crash capture settings are invalid; the app will run WITHOUT crash capture until fixed:\n${lines}`);
  }
}

/** The CLI on the watchdog's runtime; node is relative to DEPS_DIR (the shim's grandparent). */
function cliShim(node: string): string {
  return `#!/usr/bin/env bash
# postmortem CLI: browse and fetch crash evidence (runs on the watchdog's Node.js).
here=$(cd "$(dirname "\${BASH_SOURCE[0]}")/.." && pwd)
exec "$here/../${node}" "$here/postmortem/cli.mjs" "$@"
`;
}

async function writeExecutable(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  await chmod(file, 0o755);
}
