// Composition root of lib/supply.mjs (run by bin/supply on the runtime it installed): the only staging code
// that touches argv, env and the exit code. Our failure never fails the push unless the
// app asked for it with POSTMORTEM_STRICT=true.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { contextFromArgs } from '../staging/context.ts';
import { createStagingLog } from '../staging/log.ts';
import { supply } from '../staging/supply.ts';

export async function runStagingPhase(phase: 'supply'): Promise<void> {
  const env = process.env;
  const log = createStagingLog((t) => process.stdout.write(t), Boolean(env.BP_DEBUG));
  const buildpackDir = env.POSTMORTEM_BUILDPACK_DIR ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  try {
    const version = readFileSync(path.join(buildpackDir, 'VERSION'), 'utf8').trim();
    const ctx = contextFromArgs(phase, process.argv.slice(2), buildpackDir);
    const deps = { env, log, version, running: { path: process.execPath, version: process.version } };
    await supply(ctx, deps);
  } catch (error) {
    const strict = /^(true|1|yes)$/i.test(env.POSTMORTEM_STRICT ?? '');
    const message = error instanceof Error ? error.message : String(error);
    if (strict) {
      log.error(`postmortem ${phase} failed: ${message}`);
      process.exitCode = 1;
      return;
    }
    log.warning(`postmortem ${phase} failed: ${message}\nThe app will run without crash capture (set POSTMORTEM_STRICT=true to fail the push instead).`);
  }
}
