// The environment the app gets: the watchdog's own, with NODE_OPTIONS handed back (the
// profile.d script set it aside so that an app's --require never loads into the watchdog)
// and our hand-over variables removed.
import type { Env } from '../config/types.ts';

export function appEnvironment(env: Env): Record<string, string | undefined> {
  const { POSTMORTEM_APP_NODE_OPTIONS: saved, POSTMORTEM_APP_HAD_NODE_OPTIONS: had, ...rest } = env;
  const result: Record<string, string | undefined> = { ...rest };
  if (had === '1') result.NODE_OPTIONS = saved ?? '';
  return result;
}
