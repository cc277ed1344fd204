#!/usr/bin/env bash
# The cluster figure of docs/benchmarks.md: `strata ingest` of the same JSON lines into a local
# store alone, then in cluster mode with R1 and R3 streams on a 3-node JetStream cluster on
# loopback (three nats-server processes on this machine).
#
#   tools/cluster-bench.sh                       # 1 M lines, 3 runs each
#   LINES=200000 RUNS=5 tools/cluster-bench.sh
#   SKIP_BUILD=1 STRATA=.build/debug/strata tools/cluster-bench.sh
#
# Prints one RESULT line per run and the median per mode. Stores and servers live in $WORK.
set -euo pipefail

LINES=${LINES:-1000000}
RUNS=${RUNS:-3}
WORK=${WORK:-/tmp/strata-cluster-bench}
SCRATCH=${SCRATCH:-.build-bench}

cd "$(dirname "$0")/.."
bash tools/setup.sh
if [[ -z "${SKIP_BUILD:-}" ]]; then
    swift build -c release --scratch-path "$SCRATCH" --product strata
fi
STRATA=${STRATA:-$SCRATCH/release/strata}
NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)

rm -rf "$WORK"
mkdir -p "$WORK"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

base=$((20000 + RANDOM % 20000))
urls=()
for i in 0 1 2; do
    routes=""
    for j in 0 1 2; do [[ $j == "$i" ]] || routes+="nats-route://127.0.0.1:$((base + 10 + j)),"; done
    cat > "$WORK/n$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:$((base + i))
jetstream { store_dir: "$WORK/js-n$i" }
cluster { name: bench, listen: 127.0.0.1:$((base + 10 + i)), routes: [${routes%,}] }
EOF
    "$NATS_SERVER" -c "$WORK/n$i.conf" > "$WORK/n$i.log" 2>&1 &
    pids+=($!)
    urls+=("nats://127.0.0.1:$((base + i))")
done
NATS=$(IFS=,; echo "${urls[*]}")

# The same page views as tools/bench.sh's CLI figure: time in ms, 1 s intervals, 4 partitions by url.
awk -v n="$LINES" 'BEGIN { srand(1); for (i = 0; i < n; i++)
    printf "{\"ts\":%d,\"url\":\"/page/%d\",\"user\":%d,\"ms\":%d}\n", 1795435200000 + i / 10, int(rand() * 1000), int(rand() * 100000), int(rand() * 5000) }' \
    > "$WORK/views.jsonl"
echo "input: $LINES lines, $(du -h "$WORK/views.jsonl" | cut -f1)"

# Wait until the cluster accepts an R3 stream (leader elected).
for _ in $(seq 1 120); do
    if "$STRATA" --store "$WORK/ready.strata" --nats "$NATS" --namespace ready ingest ready < /dev/null > /dev/null 2>&1; then break; fi
    sleep 1
done

run() {  # mode, extra args
    local mode=$1; shift
    local store="$WORK/$mode-$RANDOM.strata"
    local start end
    start=$(date +%s.%N)
    "$STRATA" --store "$store" "$@" ingest views --time-field ts --key-field url --partitions 4 < "$WORK/views.jsonl" 2> "$WORK/last.err"
    end=$(date +%s.%N)
    local seconds
    seconds=$(echo "$end - $start" | bc -l)
    printf 'RESULT mode=%s lines=%d seconds=%.3f lines_per_s=%.0f\n' "$mode" "$LINES" "$seconds" "$(echo "$LINES / $seconds" | bc -l)" \
        | tee -a "$WORK/results.txt"
    rm -rf "$store"
}

# Replication alone: publish an ingested store's blocks (`cluster replicate`), then rebuild a store
# from the R3 copy (`cluster restore`); bytes are the stored LZ4 blocks.
timed() {  # mode, command…
    local mode=$1; shift
    local start end out
    start=$(date +%s.%N)
    out=$("$@")
    end=$(date +%s.%N)
    local seconds bytes
    seconds=$(echo "$end - $start" | bc -l)
    bytes=$(echo "$out" | sed -n 's/^views: .* \([0-9]*\) bytes.*/\1/p' | head -1)
    printf 'RESULT mode=%s lines=%d seconds=%.3f lines_per_s=%.0f block_mb_per_s=%.1f\n' "$mode" "$LINES" "$seconds" \
        "$(echo "$LINES / $seconds" | bc -l)" "$(echo "${bytes:-0} / 1048576 / $seconds" | bc -l)" | tee -a "$WORK/results.txt"
}

for r in $(seq 1 "$RUNS"); do
    run local
    run r1 --nats "$NATS" --replicas 1 --namespace "r1run$r"
    run r3 --nats "$NATS" --replicas 3 --namespace "r3run$r"
    "$STRATA" --store "$WORK/source.strata" ingest views --time-field ts --key-field url --partitions 4 \
        < "$WORK/views.jsonl" 2> /dev/null
    timed replicate-r1 "$STRATA" cluster replicate views --store "$WORK/source.strata" --nats "$NATS" --replicas 1 --namespace "rep1run$r"
    timed replicate-r3 "$STRATA" cluster replicate views --store "$WORK/source.strata" --nats "$NATS" --replicas 3 --namespace "rep3run$r"
    timed restore-r3 "$STRATA" cluster restore views --store "$WORK/restored-$r.strata" --nats "$NATS" --namespace "rep3run$r"
    rm -rf "$WORK/source.strata" "$WORK/restored-$r.strata"
done
for mode in local r1 r3 replicate-r1 replicate-r3 restore-r3; do
    grep "mode=$mode " "$WORK/results.txt" | sort -t= -k4 -n | awk '{ line[NR] = $0 } END { print "median " line[int((NR + 1) / 2)] }'
done
