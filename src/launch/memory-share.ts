// The app's share of MEMORY_LIMIT, computed in shell by the profile.d script: a memory
// calculator in a later profile.d script (Go java-buildpack v5) runs before the watchdog
// exists, so the lowered MEMORY_LIMIT must be exported by the script itself, without
// starting Node.js. The rule is src/config/memory-limit.ts (appMemoryLimit); this is its
// shell spelling, held equal to it by test/launch/memory-share.test.ts over a table and
// generated inputs. POSIX sh, no `local`: globals prefixed __pm_, unset by the script.
import { MEMORY_RESERVE } from '../config/memory-limit.ts';

/** Largest integer a JavaScript number holds exactly (MEMORY_LIMIT beyond it is not understood). */
const SAFE = Number.MAX_SAFE_INTEGER;
const MiB = 1024 * 1024;

/**
 * Defines `__pm_size TEXT limit|size` (sets __pm_bytes, empty when not understood) and
 * `__pm_app_memory MEMORY_LIMIT RESERVE` (sets __pm_app_limit, e.g. 928m; empty: leave
 * MEMORY_LIMIT alone). `limit` reads MEMORY_LIMIT's spelling (parseMemoryLimit: whole
 * numbers, a plain one is megabytes); `size` the settings' (parseBytes: decimals, a plain
 * number is bytes) within POSTMORTEM_MEMORY_RESERVE's range.
 */
export function memoryShareFunctions(): string {
  const unit = (letter: string) => `[${letter}${letter.toUpperCase()}]`;
  const ib = '[iI][bB]';
  const multiples = (['k', 'm', 'g', 't'] as const).map((l, i) => `    *:${unit(l)}|*:${unit(l)}[bB]|*:${unit(l)}${ib}) __pm_u=${1024 ** (i + 1)} ;;`).join('\n');
  return `__pm_size() {
  __pm_bytes= __pm_t=$1
  __pm_t=\${__pm_t#"\${__pm_t%%[![:space:]]*}"}
  __pm_t=\${__pm_t%"\${__pm_t##*[![:space:]]}"}
  __pm_num=\${__pm_t%%[!0-9.]*}
  __pm_unit=\${__pm_t#"$__pm_num"}
  __pm_unit=\${__pm_unit#"\${__pm_unit%%[![:space:]]*}"}
  __pm_int=\${__pm_num%%.*} __pm_frac=
  case $__pm_int in ''|*[!0-9]*) return ;; esac
  case $__pm_num in *.*)
    [ "$2" = size ] || return
    __pm_frac=\${__pm_num#*.}
    case $__pm_frac in ''|*[!0-9]*|${'?'.repeat(MEMORY_RESERVE.maxDecimals + 1)}*) return ;; esac ;;
  esac
  case $2:$__pm_unit in
    limit:|limit:[bB]|limit:${ib}) __pm_u=${MiB} ;;
    size:|size:[bB]) __pm_u=1 ;;
${multiples}
    *) return ;;
  esac
  # Leading zeros off (shell arithmetic reads 010 as octal); 16 digits would overflow below.
  __pm_int=\${__pm_int#"\${__pm_int%%[!0]*}"}
  [ \${#__pm_int} -le 15 ] || return
  if [ "$2" = limit ]; then
    [ "\${__pm_int:-0}" -gt 0 ] && [ "$__pm_int" -le $(( ${SAFE} / __pm_u )) ] && __pm_bytes=$(( __pm_int * __pm_u ))
    return
  fi
  [ "\${__pm_int:-0}" -le $(( ${MEMORY_RESERVE.max} / __pm_u )) ] || return
  # Decimals exactly, rounded half up like Math.round: int*u + (2*frac*u + 10^d) / (2*10^d).
  __pm_p=1 __pm_x=$__pm_frac
  while [ -n "$__pm_x" ]; do __pm_p=$(( __pm_p * 10 )) __pm_x=\${__pm_x#?}; done
  __pm_frac=\${__pm_frac#"\${__pm_frac%%[!0]*}"}
  __pm_x=$(( \${__pm_int:-0} * __pm_u + (2 * \${__pm_frac:-0} * __pm_u + __pm_p) / (2 * __pm_p) ))
  [ "$__pm_x" -le ${MEMORY_RESERVE.max} ] && [ "$__pm_x" -ge ${MEMORY_RESERVE.min} ] && __pm_bytes=$__pm_x
}
__pm_app_memory() {
  __pm_app_limit=
  case $2 in
    *[![:space:]]*) __pm_size "$2" size; __pm_r=$__pm_bytes ;;
    *) __pm_r=${MEMORY_RESERVE.fallback} ;;
  esac
  # Not understood: the watchdog reports the setting and runs the app with its own limit.
  [ -n "$__pm_r" ] && [ "$__pm_r" -gt 0 ] || return
  __pm_size "$1" limit
  [ -n "$__pm_bytes" ] && [ $(( 2 * __pm_r )) -le "$__pm_bytes" ] || return
  __pm_app_limit="$(( (__pm_bytes - __pm_r) / ${MiB} ))m"
}
`;
}

/** Names the functions define, for the script's cleanup. */
export const MEMORY_SHARE_VARIABLES = '__pm_bytes __pm_t __pm_num __pm_unit __pm_int __pm_frac __pm_u __pm_p __pm_x __pm_r __pm_app_limit';
export const MEMORY_SHARE_FUNCTIONS = '__pm_size __pm_app_memory';
