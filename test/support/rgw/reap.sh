#!/usr/bin/env bash
# Watches the process that owns a cluster and cleans up after it: once OWNER is gone (exited,
# killed, even with SIGKILL, or a zombie nobody reaps), stops the cluster in DIR with stop.sh
# and removes DIR and the --also files. Exits quietly when DIR disappears first, which is what
# a normal stop does. Meant to run detached (its own session), so Ctrl-C does not reach it.
#
#   test/support/rgw/reap.sh --owner PID --dir DIR [--also FILE]...
set -u
trap '' INT HUP

owner='' dir='' also=()
while [ $# -gt 0 ]; do
  case "$1" in
    --owner) owner=$2 ;;
    --dir) dir=$2 ;;
    --also) also+=("$2") ;;
    *) echo "reap.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[ -n "$owner" ] && [ -n "$dir" ] || { echo "reap.sh: --owner and --dir are required" >&2; exit 2; }

# state and start time of a process (fields 3 and 22 of /proc/PID/stat, after the name)
stat_of() { sed 's/.*) //' 2>/dev/null < "/proc/$1/stat" | awk '{ print $1, $20 }'; }

born=$(stat_of "$owner" | awk '{ print $2 }')
[ -n "$born" ] || born=gone
owner_running() {
  local now
  now=$(stat_of "$owner")
  [ -n "$now" ] && [ "${now%% *}" != Z ] && [ "${now##* }" = "$born" ]
}

while [ -d "$dir" ] && owner_running; do sleep 1; done
if [ -d "$dir" ]; then
  "$(dirname "$0")/stop.sh" --dir "$dir"
  rm -rf "$dir"
fi
[ ${#also[@]} -eq 0 ] || rm -f "${also[@]}"
