// Run by the profile.d script before it takes over the start command: exits non-zero with
// one line when the configuration is broken, so the app then starts as if we were absent.
import { parseConfig } from '../config/parse.ts';
import { ConfigError } from '../config/types.ts';

try {
  const { warnings } = parseConfig(process.env);
  for (const w of warnings) process.stdout.write(`[postmortem] WARNING: ${w}\n`);
} catch (error) {
  process.stdout.write(error instanceof ConfigError ? `invalid settings: ${error.problems.join('; ')} ` : `settings check failed: ${String(error)} `);
  process.exitCode = 1;
}
