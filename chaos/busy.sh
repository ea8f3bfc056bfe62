#!/usr/bin/env bash
# Runs a command with N busy-loop processes beside it: proves a suite passes on a busy machine.
#
#   chaos/busy.sh [N] COMMAND [ARGS...]     N defaults to 2 (one per core of the dev machine)
#   chaos/busy.sh 2 make test               the whole suite with two CPU hogs (issue 11, item 8)
#   chaos/busy.sh 2 .venv/bin/python -m chaos --rounds 2
#
# The hogs are plain `while :; do :; done` shells at normal priority, started before the
# command and killed (by their own pids) when it ends, whatever way it ends. The exit code is
# the command's.
set -u

hogs=2
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  hogs=$1
  shift
fi
if [[ $# -eq 0 ]]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi

pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
  done
  wait "${pids[@]}" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ((i = 0; i < hogs; i++)); do
  bash -c 'while :; do :; done' &
  pids+=("$!")
done
echo "busy.sh: ${hogs} busy-loop process(es) (pids ${pids[*]:-none}) beside: $*" >&2

started=$(date +%s)
"$@"
code=$?
echo "busy.sh: '$*' exited ${code} after $(( $(date +%s) - started ))s with ${hogs} hog(s)" >&2
exit "$code"
