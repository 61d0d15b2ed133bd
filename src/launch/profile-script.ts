// Renders the profile.d script that hands the app's start command to the watchdog.
//
// The launcher sources every profile.d script with `source FILE` and no arguments, so the
// script shares the launcher's positional parameters ($1 = app dir, $2 = start command) and
// may rewrite $2 (PLATFORM.md, Launch). We rewrite it to
//   exec <node> <watchdog> -- bash -c '<original command>'
// so the watchdog keeps the launcher's PID (the container's top process) and the app runs
// unchanged as its child. Everything sits at the top level of the script: inside a function
// "$@" would be the function's own parameters. No Node.js runs here (start-up latency): the
// watchdog checks the settings itself and, when it cannot start the app, execs the original
// command unwrapped (src/entry/watchdog.ts). What the script cannot leave to the watchdog:
// a runtime that is missing (checked here) or that the kernel refuses to run (bash's
// execfail: the start command then runs the original command itself), and the app's
// MEMORY_LIMIT, which later profile.d scripts' memory calculators read before the watchdog
// exists (computed in shell, src/launch/memory-share.ts).

import { shellTruePattern } from '../config/settings.ts';
import { MEMORY_SHARE_FUNCTIONS, MEMORY_SHARE_VARIABLES, memoryShareFunctions } from './memory-share.ts';

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
  cli: 'bin/postmortem',
  profileScript: 'profile.d/postmortem.sh',
  appProfileScript: '.profile.d/000_postmortem.sh',
} as const;

/**
 * Small young generation: the short-lived 64 KiB read chunks are collected sooner. Part
 * buffers come from a fixed pool (src/store/part-pool.ts), so no gc() is needed or exposed.
 * No memory reducer: while the watchdog idles it would wake it every 8 s to consider shrinking
 * a heap that does not change (each wake-up of an idle process costs CPU; idle RSS measured
 * the same without it). Both flags are known to every V8 since Node.js 20.
 */
export const NODE_FLAGS = '--max-semi-space-size=1 --no-memory-reducer';
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
  else
    # The app's share of the memory limit (POSTMORTEM_MEMORY_RESERVE), exported before any
    # later profile.d script or the start command runs a memory calculator. The watchdog
    # says so in the log, and hands the container's limit back if it lets the app run unwrapped.
${indent(memoryShareFunctions(), 4)}
    __pm_app_memory "\${MEMORY_LIMIT-}" "\${POSTMORTEM_MEMORY_RESERVE-}"
    [ -n "$__pm_app_limit" ] && export POSTMORTEM_CONTAINER_MEMORY_LIMIT="$MEMORY_LIMIT" MEMORY_LIMIT="$__pm_app_limit"
    unset -f ${MEMORY_SHARE_FUNCTIONS}
    # NODE_OPTIONS is the app's (e.g. --require of an APM agent), never the watchdog's: set
    # aside when the start command runs (after every profile.d script) and handed back to the
    # app by the watchdog, or by the start command itself if the kernel refuses our runtime.
    # Two pipes for the app's output (src/watchdog/output-pipes.ts) on descriptors bash picks
    # (10 and up: an app's own exec 3>file in .profile stays the app's); the two subshells that
    # made them are waited for, or they would stay zombies under the watchdog.
    __pm_cmd=$(printf %q "$2")
    __pm_aside='shopt -s execfail 2>/dev/null; export POSTMORTEM_APP_NODE_OPTIONS="\${NODE_OPTIONS-}" POSTMORTEM_APP_HAD_NODE_OPTIONS=\${NODE_OPTIONS+1}; unset NODE_OPTIONS; { exec {__pm_o}<> <(:) && __pm_p=$! && exec {__pm_e}<> <(:) && export POSTMORTEM_OUTPUT_FDS=$__pm_o,$__pm_e; wait $__pm_p $!; } 2>/dev/null; exec'
    __pm_unwrapped='{ exec {__pm_o}<&- {__pm_e}<&-; } 2>/dev/null; unset POSTMORTEM_OUTPUT_FDS __pm_o __pm_e __pm_p; [ "$POSTMORTEM_APP_HAD_NODE_OPTIONS" = 1 ] && export NODE_OPTIONS="$POSTMORTEM_APP_NODE_OPTIONS"; [ -n "\${POSTMORTEM_CONTAINER_MEMORY_LIMIT-}" ] && export MEMORY_LIMIT="$POSTMORTEM_CONTAINER_MEMORY_LIMIT"; unset POSTMORTEM_APP_NODE_OPTIONS POSTMORTEM_APP_HAD_NODE_OPTIONS POSTMORTEM_CONTAINER_MEMORY_LIMIT; echo "[postmortem] WARNING: the runtime of the crash watchdog does not run here (restage the app); the app runs without crash capture" >&2; exec bash -c'
    set -- "$1" "$__pm_aside $(printf %q "$__pm_node") ${NODE_FLAGS} $(printf %q "$__pm_watchdog") -- bash -c $__pm_cmd; $__pm_unwrapped $__pm_cmd"
  fi
  unset __pm_dir __pm_node __pm_watchdog __pm_off __pm_tasks __pm_cmd __pm_aside __pm_unwrapped ${MEMORY_SHARE_VARIABLES}
fi
`;
}

function indent(text: string, spaces: number): string {
  return text.trimEnd().split('\n').map((line) => `${' '.repeat(spaces)}${line}`).join('\n');
}
