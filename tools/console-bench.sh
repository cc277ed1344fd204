#!/usr/bin/env bash
# What the read API and the console's polling cost: HTTP ingest and a running count, each run with
# and without a poller making the console's requests; and the time to serve one 100 000-record
# interval as JSON lines. Figures go to docs/benchmarks.md ("Console and read API").
#
#   swift build -c release --scratch-path .build-server --product strata
#   swift build -c release --scratch-path .build-server --product strata-bench
#   tools/console-bench.sh
set -euo pipefail
B=${B:-.build-server/release}
W=${W:-/tmp/strata-console-bench}
EVENTS=${EVENTS:-3000000}
RUNS=${RUNS:-3}
PORT=${PORT:-7272}
POLL=${POLL:-0.5}
mkdir -p "$W"
[ -s "$W/events.jsonl" ] || "$B/strata-bench" generate --events "$EVENTS" --seed 1 > "$W/events.jsonl"

serve() {  # serve STORE: starts strata serve in the background, waits until it listens
    "$B/strata" serve --store "$1" --port "$PORT" 2> "$W/serve.err" &
    SERVER=$!
    for _ in $(seq 600); do grep -q listening "$W/serve.err" 2>/dev/null && return; sleep 0.1; done
    echo "serve did not start" >&2; cat "$W/serve.err" >&2; exit 1
}
poller() {  # the console's requests (Streams page, a stream page, Programs, Ingest) every $POLL s
    local u="http://127.0.0.1:$PORT"
    while true; do
        curl -s -o /dev/null "$u/api/streams"
        curl -s -o /dev/null "$u/api/streams/pageViews/intervals"
        curl -s -o /dev/null "$u/api/streams/pageViews"
        # The Programs page also fetches each program's per-interval timings (read from the store).
        for p in $(curl -s "$u/api/programs" | grep -o '"name":"[^"]*"' | grep -v '\.v[0-9]' | cut -d'"' -f4); do
            curl -s -o /dev/null "$u/api/programs/$p/timings?last=120"
        done
        curl -s -o /dev/null "$u/api/ingest"
        sleep "$POLL"
    done
}
stop() { kill -TERM "$SERVER"; wait "$SERVER" || true; }

echo "== HTTP ingest, 8 connections, with and without the poller"
for run in $(seq "$RUNS"); do
    for mode in without with; do
        rm -rf "$W/store"
        serve "$W/store"
        if [ "$mode" = with ]; then poller & POLLER=$!; fi
        result=$("$B/strata-bench" http-load --input "$W/events.jsonl" --port "$PORT" --connections 8 | tail -1)
        if [ "$mode" = with ]; then kill "$POLLER"; wait "$POLLER" 2>/dev/null || true; fi
        stop
        echo "run $run $mode poller: $result"
    done
done

echo "== one 100 000-record interval as JSON lines"
serve "$W/store"
T=$(curl -s "http://127.0.0.1:$PORT/api/streams/pageViews/intervals" \
    | python3 -c 'import json,sys; iv=json.load(sys.stdin)["intervals"]; print(max(iv, key=lambda x: x["records"])["interval"])')
for run in $(seq 5); do
    curl -s -o "$W/interval.jsonl" -w "%{time_total}" "http://127.0.0.1:$PORT/api/streams/pageViews/records?interval=$T" \
        > "$W/time"
    n=$(wc -l < "$W/interval.jsonl")
    python3 -c "import sys; t=float(open('$W/time').read()); print(f'interval $T: {$n} records, {t*1000:.1f} ms, {$n/t/1e6:.2f} M records/s, {$(stat -c %s "$W/interval.jsonl")/t/1048576:.0f} MiB/s')"
done
stop

echo "== running count over the ingested stream, with and without the poller"
for run in $(seq "$RUNS"); do
    for mode in without with; do
        rm -rf "$W/count" && cp -r "$W/store" "$W/count"
        if [ "$mode" = with ]; then serve "$W/count"; poller & POLLER=$!; fi
        result=$("$B/strata-bench" running-count --store "$W/count" | tail -1)
        if [ "$mode" = with ]; then kill "$POLLER"; wait "$POLLER" 2>/dev/null || true; stop; fi
        echo "run $run $mode poller: $result"
    done
done
