#!/usr/bin/env bash
# Kill-and-rerun recovery measurement for a strata-bench workload (docs/benchmarks.md, "Recovery").
#
#   tools/recovery-bench.sh WORKLOAD [SNAPSHOT_EVERY=30] [KILL_PAST=45] [INTERVALS=90] [-- OPTION…]
#
# Options after `--` go to every strata-bench run of the workload as they are (for example
# `-- --timeout 30` for sessions, `-- --length 5 --slide 1 --no-inverse` for window-count,
# `-- --durability none`).
#
# WORKLOAD is running-count, window-count or sessions. On a copy of a page-view store of
# INTERVALS 1 s intervals at 100 000 events each (made once, cached in $WORK), it starts the
# workload, polls `strata status --json` until the program's stateful vertex (PROGRAM.v1) has
# committed past interval KILL_PAST (counted from the input's first interval), kills the process
# with SIGKILL, prints the pre-crash progress, then reruns the same command: it prints the time
# from its start until the state was caught up with the pre-crash progress ("recovery: … s") and
# finishes. A third run must find nothing to do. BIN (default .build/release) holds strata-bench;
# STRATA is the strata CLI (default $BIN/strata).
set -euo pipefail
usage="usage: tools/recovery-bench.sh running-count|window-count|sessions [SNAPSHOT_EVERY] [KILL_PAST] [INTERVALS] [-- OPTION…]"
positional=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do positional+=("$1"); shift; done
[ $# -gt 0 ] && shift   # the `--`
extra=("$@")
if [ ${#positional[@]} -lt 1 ] || [ ${#positional[@]} -gt 4 ]; then echo "$usage" >&2; exit 64; fi
WORKLOAD=${positional[0]}
EVERY=${positional[1]:-30}
KILL_PAST=${positional[2]:-45}
INTERVALS=${positional[3]:-90}
BIN=${BIN:-.build/release}
STRATA=${STRATA:-$BIN/strata}   # only polls and prints status: a debug build will do
W=${WORK:-/tmp/strata-recovery}
mkdir -p "$W"
base=$W/input-$INTERVALS
if [ ! -d "$base" ]; then
  "$BIN/strata-bench" ingest --store "$base" --overwrite --events $((INTERVALS * 100000)) --seed 1 \
    --durability none --partitions 4 --interval 1s --mode inline > /dev/null
fi
store=$W/$WORKLOAD-$EVERY
rm -rf "$store"
cp -r "$base" "$store"
first=$("$STRATA" streams --store "$store" --json | grep '"name":"pageViews"' | sed 's/.*"firstReadable":\([0-9]*\).*/\1/')
target=$((first + KILL_PAST))
command=("$BIN/strata-bench" "$WORKLOAD" --store "$store" --snapshot-every "$EVERY" ${extra[@]+"${extra[@]}"})
echo "# ${command[*]}   (kill -9 once ${WORKLOAD} program .v1 is past interval $target = first + $KILL_PAST)"
"${command[@]}" > "$W/run1.out" 2> "$W/run1.err" &
pid=$!
progress() {
  "$STRATA" status --store "$store" --json 2>/dev/null | grep '\.v1"' | sed 's/.*"progress":\([0-9]*\).*/\1/' || true
}
killed=no
while kill -0 "$pid" 2> /dev/null; do
  p=$(progress)
  if [ -n "$p" ] && [ "$p" -gt "$target" ]; then
    kill -9 "$pid"
    killed=yes
    break
  fi
  sleep 0.01
done
wait "$pid" 2> /dev/null || true
if [ "$killed" != yes ]; then
  echo "the run finished before its .v1 vertex passed interval $target; use more INTERVALS" >&2
  exit 1
fi
echo "# killed; pre-crash progress (strata status):"
"$STRATA" status --store "$store"
echo "# rerun:"
"${command[@]}" 2> "$W/run2.err" | grep -E "recovery:|RESULT"
echo "# rerun after completion:"
"${command[@]}" 2>&1 | grep -E "nothing to do|RESULT"
