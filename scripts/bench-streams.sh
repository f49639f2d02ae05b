#!/usr/bin/env bash
# Alerts at scale, in one run, on this machine: wayfare-server (release) on
# SQLite in a temp dir on loopback, DEVICES connected device event streams
# (SSE), GUARDIANS riders each bound to a guardian whose wallet core
# (wayfare-core) reads its alerts, the riders paying at RATE/s for DURATION.
# Prints commit → guardian core delivery p50/p90/p99/max, alerts expected vs
# received (a missing, doubled or misrouted alert fails the script) and the
# server's memory per connected subscriber (VmRSS before and after the
# streams are open, divided by DEVICES).
#
# Knobs (environment): DEVICES (10000), GUARDIANS (100), RATE (100),
# DURATION (20s), SETTLE (15s); SERVER_BIN and LOADGEN_BIN run prebuilt
# binaries instead of building (e.g. to compare two servers). Loopback only. 10,000 streams need ~20,000
# file descriptors on one machine, one end in each process: the script
# raises its own `ulimit -n` to DEVICES + 4096, which the server and the
# load generator inherit.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${DEVICES:-10000}
GUARDIANS=${GUARDIANS:-100}
RATE=${RATE:-100}
DURATION=${DURATION:-20s}
SETTLE=${SETTLE:-15s}

want_fds=$((DEVICES + 4096))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want_fds" ]; then
  ulimit -Hn "$want_fds" 2>/dev/null || {
    echo "need $want_fds file descriptors; the hard limit is $hard (raise it, or lower DEVICES)" >&2
    exit 1
  }
fi
ulimit -Sn "$want_fds"

if [ -z "${SERVER_BIN:-}" ] || [ -z "${LOADGEN_BIN:-}" ]; then
  echo "== building wayfare-server and wayfare-loadgen (release)"
  cargo build -q --release -p wayfare-server -p wayfare-loadgen
  target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
fi
server_bin=${SERVER_BIN:-$target_dir/release/wayfare-server}
loadgen_bin=${LOADGEN_BIN:-$target_dir/release/wayfare-loadgen}

work=$(mktemp -d /tmp/wayfare-bench-streams.XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
mkdir -p "$work/server"
RUST_LOG=warn "$server_bin" --data-dir "$work/server" --listen "127.0.0.1:$port" \
  >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 200); do
  curl -sf "$url/v1/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.1
done
curl -sf "$url/v1/health" >/dev/null || { echo "the server did not come up" >&2; exit 1; }

echo "== $DEVICES device streams, $GUARDIANS guardians, payments at $RATE/s for $DURATION ($(nproc) cores, SQLite, loopback)"
status=0
"$loadgen_bin" streams --server "$url" --admin-token-file "$work/server/admin-token" \
  --devices "$DEVICES" --guardians "$GUARDIANS" --rate "$RATE" --duration "$DURATION" \
  --settle "$SETTLE" --server-pid "$server_pid" --data-dir "$work/wallets" --label sqlite \
  || status=$?
if [ "$status" -ne 0 ]; then
  echo "== the run failed ($status); the server's log ends:" >&2
  tail -n 20 "$work/server.log" >&2
fi
exit "$status"
