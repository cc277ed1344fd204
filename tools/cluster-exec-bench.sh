#!/usr/bin/env bash
# Distributed execution on loopback: the example program (running count, window count, sessions;
# tools/node) over INTERVALS generated intervals of 4 partitions (SCALE × the tests' records per
# interval: about 50 × SCALE), with 1, 2 and 3 strata-node processes on a 3-server NATS cluster
# (R3). Per run: the nodes start and take their partitions (waited for: every partition leased,
# spread over all N nodes), then `strata-node feed --at-once` generates the whole input and
# replicates it in one go (a backlog), and `strata-node digest` waits until every output partition
# is sealed through the last interval. Printed: seconds from the feed's start to
# the last output sealed (wall), the CPU seconds the nodes and the NATS servers used meanwhile
# (user+system, /proc), whether the outputs equal a single-node run's, and the load average.
# Usage: [SCALE=40] tools/cluster-exec-bench.sh [INTERVALS] [RUNS]
#   STRATA_BIN=DIR picks the binaries (default .build/debug; for figures build release:
#   swift build -c release --scratch-path .build-bench --product strata-node, then
#   STRATA_BIN=.build-bench/release tools/cluster-exec-bench.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
INTERVALS=${1:-60}
RUNS=${2:-1}
SCALE=${SCALE:-40}
BIN=${STRATA_BIN:-.build/debug}/strata-node
WORK=$(mktemp -d /tmp/strata-exec-bench.XXXXXX)
PIDS=()
NATS_PIDS=()
cleanup() { for pid in "${PIDS[@]}" "${NATS_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
C=(); R=()
for i in 0 1 2; do C[$i]=$(port); R[$i]=$(port); done
for i in 0 1 2; do
  routes=""; for j in 0 1 2; do [ $j -ne $i ] && routes="$routes nats-route://127.0.0.1:${R[$j]}"; done
  cat > "$WORK/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:${C[$i]}
jetstream { store_dir: "$WORK/js$i" }
cluster { name: bench, listen: 127.0.0.1:${R[$i]}, routes: [$(echo $routes | sed 's/ /, /g')] }
CONF
  nats-server -c "$WORK/n$i.conf" > "$WORK/n$i.log" 2>&1 & NATS_PIDS+=($!)
done
URLS=(--nats nats://127.0.0.1:${C[0]} --nats nats://127.0.0.1:${C[1]} --nats nats://127.0.0.1:${C[2]})
now() { date +%s.%N; }
# CPU seconds (user + system) of the given processes so far.
cpu() { local total=0 t; for pid in "$@"; do
    t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0); total=$((total + t)); done
  python3 -c "print(round($total / $(getconf CLK_TCK), 2))"; }
# Until every partition of namespace NS is leased and N nodes hold them (strata-node status).
wait_spread() { local ns=$1 n=$2 deadline=$((SECONDS + 300))
  until "$BIN" status "${URLS[@]}" --namespace "$ns" 2>/dev/null | awk -v n="$n" '
      /^Partitions per node/ {f=1; next} /^$/ {f=0}
      f && NF >= 3 && $2 != "node" { if ($2 == "-") bad=1; else { nodes++; parts += $3 } }
      END { exit !(nodes == n && parts == 4 && !bad) }'; do
    [ $SECONDS -lt $deadline ] || { echo "partitions not spread over $n nodes in 300 s" >&2; exit 1; }
    sleep 0.2
  done; }
run() {  # run NAMESPACE NODES...: prints "wall nodes-cpu nats-cpu"
  local ns=$1; shift; local started ended c0 c1 n0 n1; local -a nodes=()
  for n in "$@"; do "$BIN" run "${URLS[@]}" --namespace "$ns" --node "$n" --store "$WORK/$ns-$n" --lease-ttl-ms 4000 \
      > "$WORK/$ns-$n.log" 2>&1 & nodes+=($!); PIDS+=($!); done
  wait_spread "$ns" "$#"
  c0=$(cpu "${nodes[@]}"); n0=$(cpu "${NATS_PIDS[@]}"); started=$(now)
  "$BIN" feed "${URLS[@]}" --namespace "$ns" --store "$WORK/$ns-input" --intervals "$INTERVALS" --scale "$SCALE" \
      --at-once > /dev/null
  "$BIN" digest "${URLS[@]}" --namespace "$ns" --intervals "$INTERVALS" > "$WORK/$ns.digest" 2>/dev/null
  ended=$(now); c1=$(cpu "${nodes[@]}"); n1=$(cpu "${NATS_PIDS[@]}")
  python3 -c "print(round($ended - $started, 2), round($c1 - $c0, 2), round($n1 - $n0, 2))"
  for pid in "${nodes[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${nodes[@]}"; do wait "$pid" 2>/dev/null || true; done
}
# The cluster is up once a status can be read (JetStream has a metadata leader).
deadline=$((SECONDS + 120))
until "$BIN" status "${URLS[@]}" --namespace ready > /dev/null 2>&1; do
  [ $SECONDS -lt $deadline ] || { echo "the NATS cluster did not come up in 120 s" >&2; exit 1; }
  sleep 0.2
done
"$BIN" single --store "$WORK/single" --intervals "$INTERVALS" --scale "$SCALE" > "$WORK/single.digest"
for r in $(seq 1 "$RUNS"); do
  for n in 1 2 3; do
    nodes=(a b c); read -r secs ncpu scpu <<< "$(run "r$r-nodes$n" "${nodes[@]:0:$n}")"
    cmp -s "$WORK/single.digest" "$WORK/r$r-nodes$n.digest" && same=identical || same=DIFFERENT
    echo "$INTERVALS intervals × ~$((50 * SCALE)) records, $n node(s): ${secs} s wall from feed start to every output sealed;" \
         "CPU: nodes ${ncpu} s, NATS servers ${scpu} s; outputs $same; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
