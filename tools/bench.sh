#!/usr/bin/env bash
# Runs the figures of docs/benchmarks.md: library ingest (none / group / fsync), `strata ingest`
# of the same events as JSON lines, full scans, and the lz4 -1 reference on the same bytes.
#
#   tools/bench.sh                 # 10 M events, 3 runs each, stores under /tmp/strata-bench
#   EVENTS=1000000 RUNS=5 tools/bench.sh
#   SKIP_BUILD=1 SKIP_CLI=1 tools/bench.sh
#
# Every run's RESULT line is appended to $WORK/results.txt; at the end the median of each
# workload (by events_per_s) is printed. Stores live in $WORK, never in the repository.
set -euo pipefail

EVENTS=${EVENTS:-10000000}
RUNS=${RUNS:-3}
SEED=${SEED:-1}
PARTITIONS=${PARTITIONS:-4}
WORK=${WORK:-/tmp/strata-bench}
SCRATCH=${SCRATCH:-.build-bench}

cd "$(dirname "$0")/.."
if [[ -z "${SKIP_BUILD:-}" ]]; then
    swift build -c release --scratch-path "$SCRATCH" --product strata-bench
    if [[ -z "${SKIP_CLI:-}" ]]; then
        swift build -c release --scratch-path "$SCRATCH" --product strata || {
            echo "note: the strata CLI did not build; skipping the CLI figures" >&2
            SKIP_CLI=1
        }
    fi
fi
BIN="$SCRATCH/release"
BENCH="$BIN/strata-bench"
STRATA="$BIN/strata"
[[ -x "$STRATA" ]] || SKIP_CLI=1

mkdir -p "$WORK"
RESULTS="$WORK/results.txt"
: > "$RESULTS"

machine() {
    echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "nproc:   $(nproc)"
    echo "cpu:     $(lscpu | grep 'Model name' | sed 's/Model name:[[:space:]]*//')"
    echo "memory:  $(free -g | awk '/Mem:/ {print $2 " GiB"}')"
    echo "swift:   $(swift --version 2>&1 | head -1)"
    echo "lz4:     $(lz4 --version 2>&1 | head -1)"
    echo "fs:      $(df -T "$WORK" | awk 'NR==2 {print $2 " on " $1}')"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg)"
}
machine | tee "$WORK/machine.txt"

# Runs a command, echoes its output, and appends its RESULT lines to $RESULTS.
record() {
    local output
    output=$("$@")
    echo "$output"
    echo "$output" | grep '^RESULT ' >> "$RESULTS"
}

echo "== generate $EVENTS events as JSON lines"
"$BENCH" generate --events "$EVENTS" --seed "$SEED" > "$WORK/events.jsonl" 2> "$WORK/generate.txt"
cat "$WORK/generate.txt"
grep '^RESULT ' "$WORK/generate.txt" >> "$RESULTS"
for run in $(seq "$RUNS"); do
    "$BENCH" generate --events "$EVENTS" --seed "$SEED" 2>&1 > /dev/null | grep '^RESULT ' \
        | sed 's/workload=generate-json/workload=generate-json-devnull/' | tee -a "$RESULTS"
done

echo "== library ingest (PageView, event time, keyed by url, $PARTITIONS partitions, 1 s intervals)"
for durability in none group fsync; do
    for mode in memory inline; do
        for run in $(seq "$RUNS"); do
            record "$BENCH" ingest --store "$WORK/lib-$durability" --overwrite --events "$EVENTS" --seed "$SEED" \
                --durability "$durability" --partitions "$PARTITIONS" --interval 1s --mode "$mode"
        done
    done
done

echo "== full scan (typed PageView)"
for run in $(seq "$RUNS"); do record "$BENCH" scan --store "$WORK/lib-none"; done
echo "== full scan (typed PageView), partitions decoded in parallel (forEachInterval)"
for run in $(seq "$RUNS"); do record "$BENCH" scan --store "$WORK/lib-none" --parallel; done
echo "== slice of every interval as a dataset: count per url (map + reduceByKey) and top 10"
for run in $(seq "$RUNS"); do record "$BENCH" slice --store "$WORK/lib-none"; done
echo "== slice of every interval as a dataset: count only"
for run in $(seq "$RUNS"); do record "$BENCH" slice --store "$WORK/lib-none" --aggregate count; done

echo "== lz4 -1 reference on the same bytes (raw framed binary records; JSON lines)"
record "$BENCH" lz4 --store "$WORK/lib-none" --dump "$WORK/raw-binary.bin" --json-lines "$WORK/events.jsonl"

if [[ -z "${SKIP_CLI:-}" ]]; then
    for durability in none group; do
        echo "== strata ingest of the JSON lines (durability $durability)"
        for run in $(seq "$RUNS"); do
            rm -rf "$WORK/cli-$durability"
            start=$(date +%s.%N)
            "$STRATA" ingest --store "$WORK/cli-$durability" pageViews --interval 1s --partitions "$PARTITIONS" \
                --time-field ts --key-field url --durability "$durability" < "$WORK/events.jsonl" 2> "$WORK/cli.txt"
            end=$(date +%s.%N)
            cat "$WORK/cli.txt"
            awk -v s="$start" -v e="$end" -v n="$EVENTS" -v d="$durability" 'BEGIN {
                t = e - s; printf "RESULT workload=cli-ingest-%s events=%d seconds=%.3f events_per_s=%d\n", d, n, t, n / t }' \
                | tee -a "$RESULTS"
        done
    done
    "$STRATA" stats --store "$WORK/cli-none" || true
    echo "== full scan of the CLI's JSON stream (StoredStream<JSONRecord>)"
    for run in $(seq "$RUNS"); do record "$BENCH" scan --store "$WORK/cli-none" --json; done
    for run in $(seq "$RUNS"); do record "$BENCH" scan --store "$WORK/cli-none" --json --parallel; done
    echo "== lz4 -1 reference on the JSON stream's raw framed records"
    record "$BENCH" lz4 --store "$WORK/cli-none" --json --dump "$WORK/raw-json.bin"
fi

echo
echo "== medians over $RUNS runs (by events_per_s); every run is in $RESULTS"
awk '
    {
        w = ""; r = 0
        for (i = 2; i <= NF; i++) {
            split($i, kv, "=")
            if (kv[1] == "workload") w = kv[2]
            if (kv[1] == "events_per_s") r = kv[2] + 0
        }
        n[w]++; rate[w, n[w]] = r; line[w, n[w]] = $0
        if (!(w in seen)) { seen[w] = 1; order[++count] = w }
    }
    END {
        for (k = 1; k <= count; k++) {
            w = order[k]; m = n[w]
            # insertion sort of the runs by rate
            for (i = 1; i <= m; i++) idx[i] = i
            for (i = 2; i <= m; i++) for (j = i; j > 1 && rate[w, idx[j]] < rate[w, idx[j-1]]; j--) {
                t = idx[j]; idx[j] = idx[j-1]; idx[j-1] = t }
            runs = ""
            for (i = 1; i <= m; i++) runs = runs (i > 1 ? " " : "") rate[w, i]
            printf "%-26s median %12d events/s  (runs: %s)\n", w, rate[w, idx[int((m + 1) / 2)]], runs
            print "    " line[w, idx[int((m + 1) / 2)]]
        }
    }' "$RESULTS"
