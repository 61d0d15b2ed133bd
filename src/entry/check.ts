// Run by the profile.d script before it takes over the start command: exits non-zero with
// one line when the configuration is broken, so the app then starts as if we were absent.
// Its last line may hand the app's share of the memory limit to the script (MEMORY_LINE).
import { parseConfig } from '../config/parse.ts';
import { ConfigError } from '../config/types.ts';
import { appShareOfMemory } from '../config/memory-limit.ts';

/** The profile.d script exports MEMORY_LIMIT from this line and never prints it. */
const MEMORY_LINE = 'POSTMORTEM_APP_MEMORY_LIMIT=';

try {
  const { config, warnings } = parseConfig(process.env);
  for (const w of warnings) process.stdout.write(`[postmortem] WARNING: ${w}\n`);
  const share = appShareOfMemory(process.env.MEMORY_LIMIT, config.memoryReserve);
  if (share.message) process.stdout.write(`[postmortem] ${share.message}\n`);
  if (share.appLimit) process.stdout.write(`${MEMORY_LINE}${share.appLimit}\n`);
} catch (error) {
  process.stdout.write(error instanceof ConfigError ? `invalid settings: ${error.problems.join('; ')} ` : `settings check failed: ${String(error)} `);
  process.exitCode = 1;
}
