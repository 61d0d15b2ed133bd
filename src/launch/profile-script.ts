// Renders the profile.d script that hands the app's start command to the watchdog.
//
// The launcher sources every profile.d script with `source FILE` and no arguments, so the
// script shares the launcher's positional parameters ($1 = app dir, $2 = start command) and
// may rewrite $2 (PLATFORM.md, Launch). We rewrite it to
//   exec <node> <watchdog> -- bash -c '<original command>'
// so the watchdog keeps the launcher's PID (the container's top process) and the app runs
// unchanged as its child. Everything sits at the top level of the script: inside a function
// "$@" would be the function's own parameters. Every failure leaves the command alone.

import { shellTruePattern } from '../config/settings.ts';

export interface ProfileScriptOptions {
  /** The deps index this buildpack was staged at ("0", "01", …); resolved against $DEPS_DIR at launch. */
  depsIdx: string;
  buildpackVersion: string;
  /** The watchdog's node relative to $DEPS_DIR; default ours, "<depsIdx>/node/bin/node". An
   *  earlier buildpack's Node.js when staging reused it (e.g. "0/node/bin/node"). */
  node?: string;
}

/** Paths inside DEPS_DIR/<idx>, shared by staging (install) and the script (launch). */
export const LAYOUT = {
  node: 'node/bin/node',
  watchdog: 'postmortem/watchdog.mjs',
  check: 'postmortem/check.mjs',
  cli: 'bin/postmortem',
  profileScript: 'profile.d/postmortem.sh',
  appProfileScript: '.profile.d/000_postmortem.sh',
} as const;

/**
 * Small young generation: the short-lived 64 KiB read chunks are collected sooner. Part
 * buffers come from a fixed pool (src/store/part-pool.ts), so no gc() is needed or exposed.
 */
export const NODE_FLAGS = '--max-semi-space-size=1';
/** Booleans read by the script mean what they mean to the watchdog (settings.ts). */
const TRUE = shellTruePattern();

export function renderProfileScript(options: ProfileScriptOptions): string {
  if (!/^\d+$/.test(options.depsIdx)) throw new Error(`deps index must be digits, got ${JSON.stringify(options.depsIdx)}`);
  const node = options.node ?? `${options.depsIdx}/${LAYOUT.node}`;
  if (!/^\d+\/[\w./-]+$/.test(node)) throw new Error(`node must be a path below DEPS_DIR like 0/node/bin/node, got ${JSON.stringify(node)}`);
  return `# postmortem-buildpack ${options.buildpackVersion}: runs the start command under the crash watchdog.
# Written twice (deps profile.d and the app's .profile.d) because not every final buildpack
# copies deps scripts; POSTMORTEM_WRAPPED makes sure only the first one sourced acts.
# Acts only on the real launch of an instance: $0 is the launcher, two arguments, and
# CF_INSTANCE_INDEX set (tasks have none unless POSTMORTEM_TASKS=true).
# The postmortem CLI for cf ssh / lifecycle shell sessions (appended: never shadows the app's tools).
case ":$PATH:" in *":\${DEPS_DIR:-/home/vcap/deps}/${options.depsIdx}/bin:"*) ;; *) PATH="$PATH:\${DEPS_DIR:-/home/vcap/deps}/${options.depsIdx}/bin" ;; esac
if [ -z "\${POSTMORTEM_WRAPPED:-}" ] && [ "$#" -eq 2 ] && [ "\${0##*/}" = launcher ]; then
  export POSTMORTEM_WRAPPED=1
  __pm_dir="\${DEPS_DIR:-/home/vcap/deps}/${options.depsIdx}"
  __pm_node="\${DEPS_DIR:-/home/vcap/deps}/${node}"
  __pm_watchdog="$__pm_dir/${LAYOUT.watchdog}"
  case "\${POSTMORTEM_DISABLE:-}" in ${TRUE} ) __pm_off=1 ;; *) __pm_off= ;; esac
  case "\${POSTMORTEM_TASKS:-}" in ${TRUE} ) __pm_tasks=1 ;; *) __pm_tasks= ;; esac
  if [ -n "$__pm_off" ]; then
    echo "[postmortem] disabled by POSTMORTEM_DISABLE; the app runs without crash capture" >&2
  elif [ -z "\${CF_INSTANCE_INDEX:-}" ] && [ -z "$__pm_tasks" ]; then
    : # a task (no instance index): left alone unless POSTMORTEM_TASKS is true
  elif [ ! -x "$__pm_node" ] || [ ! -f "$__pm_watchdog" ]; then
    echo "[postmortem] WARNING: runtime or watchdog missing in $__pm_dir (restage the app); the app runs without crash capture" >&2
  elif ! __pm_msg=$(env -u NODE_OPTIONS "$__pm_node" "$__pm_dir/${LAYOUT.check}" 2>&1); then
    echo "[postmortem] WARNING: $(printf %s "$__pm_msg" | tr '\\n' ' ')-- the app runs without crash capture" >&2
  else
    # The check's last line may be the app's share of the memory limit (POSTMORTEM_MEMORY_RESERVE):
    # exported here, before any start command or later profile.d script runs a memory calculator.
    case "$__pm_msg" in *POSTMORTEM_APP_MEMORY_LIMIT=*)
      __pm_limit=\${__pm_msg##*POSTMORTEM_APP_MEMORY_LIMIT=}
      __pm_msg=$(printf %s "\${__pm_msg%POSTMORTEM_APP_MEMORY_LIMIT=*}")
      case "$__pm_limit" in [1-9]*m) case "$__pm_limit" in *[!0-9m]*|*m?*) ;; *)
        export POSTMORTEM_CONTAINER_MEMORY_LIMIT="\${MEMORY_LIMIT:-}" MEMORY_LIMIT="$__pm_limit" ;; esac ;; esac ;;
    esac
    [ -n "$__pm_msg" ] && printf '%s\\n' "$__pm_msg" >&2
    # NODE_OPTIONS is the app's (e.g. --require of an APM agent), never the watchdog's: it is
    # set aside here and handed back to the app by the watchdog.
    set -- "$1" "exec env -u NODE_OPTIONS POSTMORTEM_APP_NODE_OPTIONS=\\"\\\${NODE_OPTIONS-}\\" POSTMORTEM_APP_HAD_NODE_OPTIONS=\\\${NODE_OPTIONS+1} $(printf %q "$__pm_node") ${NODE_FLAGS} $(printf %q "$__pm_watchdog") -- bash -c $(printf %q "$2")"
  fi
  unset __pm_dir __pm_node __pm_watchdog __pm_off __pm_tasks __pm_msg __pm_limit
fi
`;
}
