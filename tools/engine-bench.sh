#!/usr/bin/env bash
# Runs the engine figures of docs/benchmarks.md: running count (with its shuffle, and over input
# declared partitioned by url: no shuffle), window count (with and without inverse), sessions —
# each from sealed input log to sealed output log over 10 M page views (100 intervals of 1 s,
# 4 partitions) — and the live seal-to-output latency of each.
#
#   tools/engine-bench.sh                      # 3 runs each, stores under /tmp/strata-bench
#   RUNS=5 LATENCY_SECONDS=30 tools/engine-bench.sh
#   SKIP_BUILD=1 tools/engine-bench.sh
#
# The input store ($WORK/lib-none) is made once by `strata-bench ingest`; every run works on a
# fresh copy of it (a program's output stream must be new). RESULT lines go to
# $WORK/engine-results.txt; the median of each workload (by events_per_s) is printed at the end.
set -euo pipefail

EVENTS=${EVENTS:-10000000}
RUNS=${RUNS:-3}
WORK=${WORK:-/tmp/strata-bench}
SCRATCH=${SCRATCH:-.build-bench}
LATENCY_SECONDS=${LATENCY_SECONDS:-20}

cd "$(dirname "$0")/.."
if [[ -z "${SKIP_BUILD:-}" ]]; then
    swift build -c release --scratch-path "$SCRATCH" --product strata-bench
fi
BENCH="$SCRATCH/release/strata-bench"
mkdir -p "$WORK"
RESULTS="$WORK/engine-results.txt"
: > "$RESULTS"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); nproc: $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ ! -d "$WORK/lib-none" ]]; then
    "$BENCH" ingest --store "$WORK/lib-none" --overwrite --events "$EVENTS" --seed 1 --durability none \
        --partitions 4 --interval 1s --mode inline
fi

# Runs a workload on a fresh copy of the input store and keeps its RESULT line.
workload() {
    rm -rf "$WORK/engine-run" && cp -r "$WORK/lib-none" "$WORK/engine-run"
    "$BENCH" "$@" --store "$WORK/engine-run" 2>/dev/null | grep '^RESULT ' | tee -a "$RESULTS"
}

for run in $(seq "$RUNS"); do
    workload running-count --input pageViews --output urlCounts
    workload running-count --input pageViews --output urlCounts --assume-partitioned | sed 's/^/  /'
    workload window-count --length 5 --slide 1
    workload window-count --length 5 --slide 1 --no-inverse | sed 's/^/  /'
    workload sessions --timeout 30
done
rm -rf "$WORK/engine-run"

for kind in running-count window-count sessions; do
    "$BENCH" latency --store "$WORK/latency" --overwrite --workload "$kind" --seconds "$LATENCY_SECONDS" \
        --warmup 3 2>/dev/null | grep '^RESULT ' | tee -a "$RESULTS"
done
# The running count over input appended partitioned by url and declared so: no shuffle.
"$BENCH" latency --store "$WORK/latency" --overwrite --workload running-count --partitioned-by-url \
    --seconds "$LATENCY_SECONDS" --warmup 3 2>/dev/null | grep '^RESULT ' | sed 's/^/  /' | tee -a "$RESULTS"
rm -rf "$WORK/latency"

echo "== medians over $RUNS runs (by events_per_s); every run is in $RESULTS"
# One "workload rate" line per run, then the median per workload.
sed -n 's/^ *RESULT workload=\([^ ]*\) .*events_per_s=\([0-9]*\).*inverse=no.*/\1-no-inverse \2/p;
        s/^ *RESULT workload=\([^ ]*\) .*events_per_s=\([0-9]*\).*shuffle=elided.*/\1-elided \2/p;
        /inverse=no\|shuffle=elided\|input=partitioned-by-url/!s/^ *RESULT workload=\([^ ]*\) .*events_per_s=\([0-9]*\).*/\1 \2/p' "$RESULTS" \
    | sort -k1,1 -k2,2n \
    | awk '{ rates[$1] = rates[$1] " " $2; n[$1]++ }
           END { for (w in n) { split(substr(rates[w], 2), r, " "); m = int((n[w] + 1) / 2);
                 printf "%-28s median %10d events/s over %d runs (%s)\n", w, r[m], n[w], substr(rates[w], 2) } }' \
    | sort
