#!/usr/bin/env bash
# Parallel recovery on loopback: the example program (tools/node: running count, window count,
# sessions; 4 partitions, snapshots every 10 intervals) on a 3-server NATS cluster (R3). Each case
# feeds BEFORE intervals and waits until every output is sealed through them, SIGKILLs a node, feeds
# AFTER more intervals at once, and measures the seconds from the SIGKILL until every output
# partition is sealed through the last interval (the survivors have caught up), with the survivors'
# CPU seconds in that time. Cases: 3 nodes → 2 survivors; 2 nodes → 1 survivor; 1 node → a fresh
# node restores all 4 partitions alone; the same without checkpoints (--no-checkpoints: the new
# node replays the partitions' whole input); and, as the reference, 3 nodes with no failure. Every
# case's outputs are compared with a single-node run.
# Usage: tools/cluster-recovery-bench.sh [BEFORE] [AFTER] [LEASE_TTL_MS]  (after swift build; STRATA_BIN=.build/release;
# KEEP_WORK=1 keeps the work directory with the nodes' logs)
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=${1:-40}
AFTER=${2:-20}
TTL=${3:-2000}
TOTAL=$((BEFORE + AFTER))
BIN=${STRATA_BIN:-.build/debug}/strata-node
WORK=$(mktemp -d /tmp/strata-recovery-bench.XXXXXX)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
[ -n "${KEEP_WORK:-}" ] && trap 'for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done; echo "kept $WORK" >&2' EXIT
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
  nats-server -c "$WORK/n$i.conf" > "$WORK/n$i.log" 2>&1 & PIDS+=($!); disown
done
sleep 3
URLS=(--nats nats://127.0.0.1:${C[0]} --nats nats://127.0.0.1:${C[1]} --nats nats://127.0.0.1:${C[2]})
now() { date +%s.%N; }
ticks() { local total=0; for pid in "$@"; do  # utime + stime of live processes, in clock ticks
  if [ -r /proc/$pid/stat ]; then total=$((total + $(awk '{print $14 + $15}' /proc/$pid/stat))); fi; done; echo $total; }
HZ=$(getconf CLK_TCK)
declare -A NODE
start() {  # start NAMESPACE NODE (cases named *-replay run without checkpoints)
  local extra=(); [[ $1 == *-replay ]] && extra=(--no-checkpoints)
  "$BIN" run "${URLS[@]}" --namespace "$1" --node "$2" --store "$WORK/$1-$2" --lease-ttl-ms "$TTL" "${extra[@]}" \
    > "$WORK/$1-$2.log" 2>&1 & NODE[$1-$2]=$!; PIDS+=($!); disown
}
feed() { "$BIN" feed "${URLS[@]}" --namespace "$1" --store "$WORK/$1-input" --first "$2" --intervals "$3" > /dev/null; }
digest() { "$BIN" digest "${URLS[@]}" --namespace "$1" --intervals "$2" --wait-seconds 600 > "$WORK/$1.digest" 2>/dev/null; }
# case NAMESPACE "NODES…" VICTIM "SURVIVORS…" [REPLACEMENT]
case_run() {
  local ns=$1 nodes=$2 victim=$3 survivors=$4 replacement=${5:-}
  for n in $nodes; do start "$ns" "$n"; done
  feed "$ns" 0 "$BEFORE"; digest "$ns" "$BEFORE"
  # Every node holds partitions (the assignment has settled) before the failure.
  local settled=0
  for _ in $(seq 1 600); do
    local holders; holders=$("$BIN" status "${URLS[@]}" --namespace "$ns" 2>/dev/null | awk '
        /^Partitions per node/ {f=1; next} /^$/ {f=0}
        f && NF >= 3 && $2 != "node" && $3 > 0 { print $2 }' || true)
    settled=1; for n in $nodes; do echo "$holders" | grep -qx "$n" || settled=0; done
    [ $settled = 1 ] && break; sleep 0.2
  done
  [ $settled = 1 ] || { echo "$ns: the assignment did not settle" >&2; exit 1; }
  local t0 c0 r0 pids=()
  r0=$(cat "$WORK/$ns"-*.log | grep -c "partition restored from its checkpoint" || true)
  [ -n "$replacement" ] && survivors="$survivors $replacement"
  if [ "$victim" != "-" ]; then kill -9 "${NODE[$ns-$victim]}"; fi
  t0=$(now)
  if [ -n "$replacement" ]; then start "$ns" "$replacement"; fi
  for n in $survivors; do pids+=("${NODE[$ns-$n]}"); done
  c0=$(ticks "${pids[@]}")
  feed "$ns" "$BEFORE" "$TOTAL"; digest "$ns" "$TOTAL"
  local secs cpu restored
  secs=$(python3 -c "print(round($(now) - $t0, 2))")
  cpu=$(python3 -c "print(round(($(ticks "${pids[@]}") - $c0) / $HZ, 2))")
  restored=$(( $(cat "$WORK/$ns"-*.log | grep -c "partition restored from its checkpoint" || true) - r0 ))
  cmp -s "$WORK/single.digest" "$WORK/$ns.digest" && same=identical || same=DIFFERENT
  echo "$ns: ${secs} s wall from SIGKILL to caught up, survivors' CPU ${cpu} s, partitions restored from checkpoints: $restored ($same)"
  for n in $nodes $replacement; do kill "${NODE[$ns-$n]}" 2>/dev/null || true; done
}
"$BIN" single --store "$WORK/single" --intervals "$TOTAL" > "$WORK/single.digest"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $BEFORE intervals, SIGKILL, $AFTER more; lease TTL $TTL ms"
case_run none "a b c" - "a b c"
case_run two "a b c" c "a b"
case_run one "a b" b "a"
case_run alone "a" a "" d
case_run alone-replay "a" a "" d
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
