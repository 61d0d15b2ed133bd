// The environment the app gets: the watchdog's own, with NODE_OPTIONS handed back (the
// start command set it aside so that an app's --require never loads into the watchdog)
// and our hand-over variables removed.
import type { Env } from '../config/types.ts';

export function appEnvironment(env: Env): Record<string, string | undefined> {
  const { POSTMORTEM_APP_NODE_OPTIONS: saved, POSTMORTEM_APP_HAD_NODE_OPTIONS: had, POSTMORTEM_OUTPUT_FDS: _pipes, ...rest } = env;
  const result: Record<string, string | undefined> = { ...rest };
  if (had === '1') result.NODE_OPTIONS = saved ?? '';
  return result;
}

/**
 * The app's environment as it would be without the buildpack: also the container's own
 * MEMORY_LIMIT back (the profile.d script lowered it by the watchdog's reserve). A memory
 * calculator in the start command then sizes the app as without us; one in a profile.d
 * script has already run with the lowered limit (it only leaves the app more headroom).
 */
export function unwrappedEnvironment(env: Env): Record<string, string> {
  const { POSTMORTEM_CONTAINER_MEMORY_LIMIT: container, ...rest } = appEnvironment(env);
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(rest)) if (value !== undefined) result[name] = value;
  if (container) result.MEMORY_LIMIT = container;
  return result;
}
