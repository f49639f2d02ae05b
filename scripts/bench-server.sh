#!/usr/bin/env bash
# Payment throughput of the control center, in one run, on this machine:
#   1. wayfare-server (release) on SQLite, driven by wayfare-loadgen;
#   2. wayfare-server on a throwaway PostgreSQL cluster with fsync ON,
#      driven the same way;
#   3. pgbench TPC-B (scale 10, the same client count) on that same cluster,
# then prints Wayfare's PostgreSQL payments/s as a multiple of pgbench's tps.
# Every run ends with the load generator's ledger check (nothing
# acknowledged lost, nothing doubled); a failed check fails the script.
#
# Knobs (environment): CLIENTS (16), DURATION (20s), WARMUP (3s),
# RIDERS (256), TERMINALS (64: the merchant's readers, each payment at the
# next; 1 sends every payment through one reader), RATE (unset: closed
# loop; set: open loop at RATE/s).
# Loopback only. Needs PostgreSQL 15 (scripts/install-deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
RIDERS=${RIDERS:-256}
TERMINALS=${TERMINALS:-64}

scripts/install-deps.sh >/dev/null
echo "== building wayfare-server and wayfare-loadgen (release)"
cargo build -q --release -p wayfare-server -p wayfare-loadgen
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/release"

work=$(mktemp -d /tmp/wayfare-bench.XXXXXX)
chmod 755 "$work" # the PostgreSQL cluster below runs as the postgres user
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  scripts/postgres.sh stop "$work/pg" || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts the server on DATA_DIR (and DATABASE_URL if given); sets $url.
start_server() {
  local data=$1 db=${2:-}
  local port; port=$(free_port)
  mkdir -p "$data"
  args=(--data-dir "$data" --listen "127.0.0.1:$port")
  [ -n "$db" ] && args+=(--database-url "$db")
  RUST_LOG=warn "$bin/wayfare-server" "${args[@]}" >"$data/server.log" 2>&1 &
  server_pid=$!
  url="http://127.0.0.1:$port"
  for _ in $(seq 200); do
    curl -sf "$url/v1/health" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$data/server.log"; return 1; }
    sleep 0.1
  done
  echo "the server did not come up" >&2; return 1
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# Runs the load generator against $url; prints its lines; sets $pps.
load() {
  local label=$1 data=$2
  local mode=(--concurrency "$CLIENTS")
  [ -n "${RATE:-}" ] && mode=(--rate "$RATE")
  "$bin/wayfare-loadgen" --server "$url" --admin-token-file "$data/admin-token" \
    --riders "$RIDERS" --terminals "$TERMINALS" "${mode[@]}" --duration "$DURATION" --warmup "$WARMUP" \
    --label "$label" --json >"$work/$label.out"
  grep -v '^{' "$work/$label.out"
  pps=$(grep '^{' "$work/$label.out" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["payments_per_second"]))')
}

# Where a write's time went on SQLite, from the server's own /metrics:
# the writer's histograms (whole run, setup included), mean and the bucket
# bound that holds 99 % of the samples.
writer_stages() {
  local data=$1
  curl -sf -H "authorization: Bearer $(cat "$data/admin-token")" "$url/metrics" | python3 -c '
import re, sys
buckets, sums, counts = {}, {}, {}
for line in sys.stdin:
    m = re.match(r"(wayfare_db_\w+?)_(bucket|sum|count)(?:\{le=\"([^\"]+)\"\})? (\S+)$", line)
    if not m:
        continue
    name, kind, le, value = m[1], m[2], m[3], float(m[4])
    if kind == "bucket":
        buckets.setdefault(name, []).append((float(le), value))
    elif kind == "sum":
        sums[name] = value
    else:
        counts[name] = value
def p99(name):
    total = counts[name]
    return next(le for le, n in sorted(buckets[name]) if n >= 0.99 * total)
for name, label in [("wayfare_db_write_queue_seconds", "queued for the writer"),
                    ("wayfare_db_batch_statements_seconds", "statements of a batch"),
                    ("wayfare_db_commit_seconds", "commit of a batch (fsync)")]:
    if counts.get(name):
        print(f"  {label:28} mean {1000 * sums[name] / counts[name]:6.2f} ms   p99 <= {1000 * p99(name):g} ms")
name = "wayfare_db_write_batch_size"
if counts.get(name):
    label = "transactions per batch"
    print(f"  {label:28} mean {sums[name] / counts[name]:6.1f}      p99 <= {p99(name):g}")
'
}

echo "== Wayfare on SQLite (synchronous=FULL)"
start_server "$work/sqlite"
load sqlite "$work/sqlite"
sqlite_pps=$pps
echo "-- the SQLite writer, from /metrics"
writer_stages "$work/sqlite" || echo "  (no writer metrics)"
stop_server

echo "== Wayfare on PostgreSQL (fsync on)"
pg_url=$(FSYNC=on scripts/postgres.sh start "$work/pg")
start_server "$work/postgres" "$pg_url"
load postgres "$work/postgres"
pg_pps=$pps
stop_server

echo "== pgbench TPC-B on the same cluster (scale 10, $CLIENTS clients)"
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
pg_port=$(python3 -c "import urllib.parse,sys; print(urllib.parse.urlparse(sys.argv[1]).port)" "$pg_url")
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_postgres "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres pgbench
as_postgres "$pg_bin/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -i -s 10 -q pgbench >/dev/null 2>&1
seconds=$(python3 -c "import re,sys; m=re.fullmatch(r'(\d+)(ms|s|m)', sys.argv[1]); n=int(m[1]); print(max(1, {'ms':n//1000,'s':n,'m':n*60}[m[2]]))" "$DURATION")
tps=$(as_postgres "$pg_bin/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -c "$CLIENTS" -j 2 -T "$seconds" -n pgbench 2>/dev/null \
  | awk '/^tps = / { print int($3) }' | tail -n1)
echo "pgbench: $tps tps"

echo
echo "== Summary ($(nproc) cores, $CLIENTS clients, $TERMINALS terminals, $DURATION)"
printf '%-28s %10s\n' "Wayfare on SQLite" "$sqlite_pps payments/s"
printf '%-28s %10s\n' "Wayfare on PostgreSQL" "$pg_pps payments/s"
printf '%-28s %10s\n' "pgbench TPC-B, same cluster" "$tps tps"
python3 -c "import sys; print(f'PostgreSQL ratio: {int(sys.argv[1])/max(1,int(sys.argv[2])):.2f}× pgbench')" "$pg_pps" "$tps"
