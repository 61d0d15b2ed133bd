// `node watchdog.mjs -- <command…>`: loads the watchdog (watchdog-main.ts) and runs it. If it
// cannot even be loaded (a damaged droplet, a runtime that cannot run our code), the app's
// command runs in this process's place, unwrapped, with one line saying why: the app starts
// as if the buildpack were not there.
import { writeSync } from 'node:fs';
import { unwrappedEnvironment } from '../watchdog/app-env.ts';
import { closeOutputFds } from '../watchdog/output-pipes.ts';
import { execInstead } from '../watchdog/unwrap.ts';
import { buildpackVersion } from '../util/version.ts';

let run: (version: string) => Promise<void>;
try {
  ({ runWatchdogProcess: run } = await import('./watchdog-main.ts'));
} catch (error) {
  const separator = process.argv.indexOf('--');
  const command = separator >= 0 ? process.argv.slice(separator + 1) : process.argv.slice(2);
  const why = error instanceof Error ? error.message : String(error);
  const say = (line: string) => { try { writeSync(2, `[postmortem] WARNING: ${line.replace(/\n/g, '\\n')}\n`); } catch { /* nowhere to say it */ } };
  say(`crash capture is off, the app runs as without the buildpack: the watchdog cannot be loaded (${why})`);
  closeOutputFds(process.env);
  say(`the app could not be started in the watchdog's place: ${execInstead(command, unwrappedEnvironment(process.env))}`);
  process.exit(127);
}
await run(buildpackVersion(import.meta.url));
