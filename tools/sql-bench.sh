#!/usr/bin/env bash
# SQL benchmark (docs/benchmarks.md, "SQL"): N page views (default 10,000,000) as JSON lines,
# ingested into a JSON stream, then the same top-10 query in strata sql, DuckDB (its Python
# package, over the JSON lines file) and the sqlite3 shell (over a table imported from the file);
# a query over 1 % of the intervals; a continuous per-interval count.
#
#   tools/sql-bench.sh [N] [WORKDIR]
#
# Needs a release build of strata (built here), python3, sqlite3, and `pip install duckdb`.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000000}
WORK=${2:-$(mktemp -d /tmp/strata-sql-bench.XXXXXX)}
mkdir -p "$WORK"
bash tools/setup.sh
swift build -c release --product strata --scratch-path .build-release >&2
STRATA=.build-release/release/strata
python3 -c "import duckdb" 2>/dev/null || python3 -m pip install -q duckdb
LINES="$WORK/pageviews.jsonl"
STORE="$WORK/store"
INTERVALS=1000

# Runs a command, its output to $OUT; sets WALL and CPU (user + system seconds) from /usr/bin/time.
timed() {
    /usr/bin/time -f "%e %U %S" -o "$WORK/time.txt" "$@" > "$OUT"
    read -r wall user system < "$WORK/time.txt"
    WALL=$wall
    CPU=$(python3 -c "print(f'{$user + $system:.2f}')")
}

if [ -f "$LINES" ] && [ "$(wc -l < "$LINES")" -eq "$N" ]; then
    echo "== reusing $LINES" >&2
else
echo "== generating $N page views in $INTERVALS one-second intervals" >&2
python3 - "$N" "$INTERVALS" > "$LINES" <<'PY'
import sys
n, intervals = int(sys.argv[1]), int(sys.argv[2])
base = 1795508400000  # 2026-11-24T08:20:00Z in ms
per = max(1, n // intervals)
out = sys.stdout
buf = []
for i in range(n):
    # 1,000 urls, skewed: url k with weight ~ 1/(k+1) (deterministic, no randomness).
    h = (i * 2654435761) & 0xFFFFFFFF
    url = (h % 1000) * (h % 7 + 1) // 7
    buf.append('{"time":%d,"url":"/page/%d","user":%d,"duration":%d}\n'
               % (base + (i // per) * 1000 + (i % per) * 1000 // per, url, h % 100000, h % 5000))
    if len(buf) == 100000:
        out.write(''.join(buf)); buf = []
out.write(''.join(buf))
PY
fi
ls -l "$LINES" >&2

rm -rf "$STORE"
echo "== ingest" >&2
OUT=/dev/stderr timed "$STRATA" ingest pageViews --store "$STORE" --time-field time --key-field user --partitions 4 < "$LINES"
INGEST_WALL=$WALL; INGEST_CPU=$CPU

TOP="SELECT url, count(*) FROM pageViews GROUP BY url ORDER BY 2 DESC LIMIT 10"
echo "== strata sql: $TOP" >&2
OUT="$WORK/strata-top.txt" timed "$STRATA" sql --store "$STORE" --no-progress "$TOP"
STRATA_WALL=$WALL; STRATA_CPU=$CPU
cat "$WORK/strata-top.txt" >&2

echo "== duckdb (python) over the JSON lines file" >&2
DUCK=$(python3 - "$LINES" <<'PY'
import sys, time, duckdb
path = sys.argv[1]
con = duckdb.connect()
t0, c0 = time.time(), time.process_time()
rows = con.execute(f"SELECT url, count(*) FROM read_json_auto('{path}', format='newline_delimited') "
                   "GROUP BY url ORDER BY 2 DESC LIMIT 10").fetchall()
t1, c1 = time.time(), time.process_time()
print(f"{t1 - t0:.3f} {c1 - c0:.2f}")
print(rows[:3], file=sys.stderr)
PY
)

echo "== sqlite3 over an imported table" >&2
DB="$WORK/pageviews.sqlite"
rm -f "$DB"
/usr/bin/time -f "%e %U %S" -o "$WORK/time.txt" sqlite3 "$DB" <<SQL
CREATE TABLE raw(j TEXT);
.mode ascii
.separator "$(printf '\037')" "\n"
.import $LINES raw
CREATE TABLE pageViews AS SELECT json_extract(j, '\$.url') AS url, json_extract(j, '\$.user') AS user,
  json_extract(j, '\$.duration') AS duration, json_extract(j, '\$.time') AS time FROM raw;
DROP TABLE raw;
SQL
SQLITE_IMPORT=$(cut -d' ' -f1 "$WORK/time.txt")
OUT="$WORK/sqlite-top.txt" timed sqlite3 "$DB" "$TOP"
SQLITE_WALL=$WALL; SQLITE_CPU=$CPU
cat "$WORK/sqlite-top.txt" >&2

FIRST=$("$STRATA" sql --store "$STORE" --csv "SELECT min(interval) FROM pageViews" | tail -1)
LAST=$((FIRST + INTERVALS / 100 - 1))
ONE="SELECT url, count(*) FROM pageViews WHERE interval BETWEEN $((FIRST + 500)) AND $((LAST + 500)) GROUP BY url ORDER BY 2 DESC LIMIT 10"
echo "== strata sql, 1 % of the intervals: $ONE" >&2
OUT=/dev/null timed "$STRATA" sql --store "$STORE" --no-progress "$ONE"
ONE_WALL=$WALL; ONE_CPU=$CPU
OUT="$WORK/blocks.txt" timed "$STRATA" sql --store "$STORE" --csv "SELECT count(*) FROM pageViews WHERE interval BETWEEN $((FIRST + 500)) AND $((LAST + 500))"

echo "== continuous per-interval count" >&2
OUT=/dev/stderr timed "$STRATA" sql --store "$STORE" --continuous --into perInterval --until-caught-up \
    "SELECT count(*) AS n FROM pageViews"
CONT_WALL=$WALL; CONT_CPU=$CPU
read -r DUCK_WALL DUCK_CPU <<< "$DUCK"

rate() { python3 -c "print(f'{$N / $1 / 1e6:.2f}')"; }
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo
echo "| what | wall (s) | CPU (s) | M rows/s of CPU |"
echo "| --- | --- | --- | --- |"
echo "| strata ingest, $N JSON lines, 4 partitions | $INGEST_WALL | $INGEST_CPU | $(rate "$INGEST_CPU") |"
echo "| strata sql, top 10 urls over $N rows | $STRATA_WALL | $STRATA_CPU | $(rate "$STRATA_CPU") |"
echo "| DuckDB $(python3 -c 'import duckdb; print(duckdb.__version__)'), same query over the JSON lines file | $DUCK_WALL | $DUCK_CPU | $(rate "$DUCK_CPU") |"
echo "| sqlite3 $(sqlite3 --version | cut -d' ' -f1), same query over an imported table (import: $SQLITE_IMPORT s wall) | $SQLITE_WALL | $SQLITE_CPU | $(rate "$SQLITE_CPU") |"
echo "| strata sql, top 10 over 1 % of the intervals ($((INTERVALS / 100)) of $INTERVALS, $(tail -1 "$WORK/blocks.txt") rows) | $ONE_WALL | $ONE_CPU | – |"
echo "| strata sql --continuous, per-interval count, $INTERVALS intervals | $CONT_WALL | $CONT_CPU | $(rate "$CONT_CPU") |"
if diff -q "$WORK/strata-top.txt" /dev/null >/dev/null; then echo "strata printed nothing" >&2; exit 1; fi
