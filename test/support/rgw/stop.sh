#!/usr/bin/env bash
# Stops everything start.sh started for one folder: a start.sh still running, radosgw, the OSD,
# the monitor, and any Ceph command still talking to them. Processes are found by their pid
# files and by the folder's ceph.conf on their command line (every one of them names it), so
# nothing else on the machine is touched. The folder itself is left for the caller to remove.
#
#   test/support/rgw/stop.sh --dir DIR [--grace SECONDS]
#
# The cluster is disposable, so by default its processes get SIGKILL at once: asked politely
# (SIGTERM), the OSD and radosgw take more than 6 s to shut down. --grace N sends SIGTERM first
# and waits up to N seconds.
set -uo pipefail

dir='' grace=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=$2 ;;
    --grace) grace=$2 ;;
    *) echo "stop.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[ -n "$dir" ] || { echo "stop.sh: --dir is required" >&2; exit 2; }
[ -d "$dir" ] || exit 0
dir=$(cd "$dir" && pwd)
conf=$dir/ceph.conf

cmdline_of() { tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline"; }

ours() {
  local pids=() pid file
  # a start.sh still running would go on starting daemons: it goes first
  for file in "$dir"/run/start.pid "$dir"/run/*.pid; do
    [ -f "$file" ] || continue
    pid=$(cat "$file" 2>/dev/null) || continue
    case "$(cmdline_of "$pid")" in
      *"$conf"* | *start.sh*"$dir"*) pids+=("$pid") ;;
    esac
  done
  for file in /proc/[0-9]*; do
    pid=${file#/proc/}
    [ "$pid" != $$ ] || continue
    case "$(cmdline_of "$pid")" in *"$conf"*) pids+=("$pid") ;; esac
  done
  [ ${#pids[@]} -eq 0 ] || printf '%s\n' "${pids[@]}" | awk '!seen[$0]++'
}

# alive PID...: those still running (a zombie waiting for its parent to reap it is done)
alive() {
  local pid state
  for pid in "$@"; do
    state=$(sed 's/.*) //' 2>/dev/null < "/proc/$pid/stat") || continue
    [ "${state%% *}" = Z ] || echo "$pid"
  done
}

mapfile -t pids < <(ours)
[ ${#pids[@]} -gt 0 ] || exit 0
if [ "$grace" != 0 ]; then
  kill -TERM "${pids[@]}" 2>/dev/null
  deadline=$(( $(date +%s%N) + grace * 1000000000 ))
  while [ -n "$(alive "${pids[@]}")" ] && [ "$(date +%s%N)" -lt "$deadline" ]; do sleep 0.1; done
fi
mapfile -t left < <(alive "${pids[@]}"; ours)
if [ ${#left[@]} -gt 0 ]; then
  kill -KILL "${left[@]}" 2>/dev/null
  for _ in $(seq 1 50); do [ -n "$(alive "${left[@]}")" ] || break; sleep 0.1; done
fi
rm -f "$dir"/run/*.pid
if [ -n "$(alive "${pids[@]}")" ]; then echo "stop.sh: processes $(alive "${pids[@]}" | tr '\n' ' ')survived SIGKILL" >&2; exit 1; fi
exit 0
