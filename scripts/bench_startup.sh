#!/usr/bin/env bash
# Issue 9: start-up time of `dcpue serve` over a large state: F facilities (default 1000) of 4
# meters each with DAYS (default 365) days of hourly register readings, built in-process by
# examples/startup_state.rs and written as a checkpoint. Times launch -> "state restored" in the
# log and launch -> GET /readyz 200 (subscribed to a real Mosquitto), and prints the state size.
# Usage: scripts/bench_startup.sh [F] [DAYS]
set -euo pipefail
cd "$(dirname "$0")/.."
F=${1:-1000}
DAYS=${2:-365}
cargo build --release --quiet --bin dcpue --example startup_state
BIN=target/release/dcpue

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

start_bench_broker # sets PORT

# HTTP on port 0: the port it bound is read from its log.
CONF=$(target/release/examples/startup_state "$TMP/run" "mqtt://127.0.0.1:$PORT" 0 "$F" "$DAYS")
SIZE=$(stat -c %s "$TMP/run/state/engine.state")

sync
T0=$(now)
"$BIN" serve --config "$CONF" 2>"$TMP/dcpue.log" &
D=$!
PIDS+=($D)
RESTORED=""
HTTP=""
while :; do
  if [ -z "$RESTORED" ] && grep -q "state restored" "$TMP/dcpue.log"; then RESTORED=$(now); fi
  [ -n "$HTTP" ] || HTTP=$(serving_port "$TMP/dcpue.log")
  [ -n "$HTTP" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP/readyz")" = 200 ] && break
  kill -0 "$D" 2>/dev/null || { echo "dcpue exited:"; cat "$TMP/dcpue.log"; exit 1; }
  sleep 0.05
done
T1=$(now)
[ -n "$RESTORED" ] || RESTORED=$T1
RSS=$(awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/$D/status)
T2=$(now)
kill -TERM "$D"; wait "$D" || true
T3=$(now)
echo "facilities: $F x 4 meters, $DAYS days of hourly readings"
echo "engine.state: $SIZE bytes ($(python3 -c "print(round($SIZE/1048576,1))") MiB)"
echo "launch -> 'state restored': $(python3 -c "print(round($RESTORED-$T0,2))") s"
echo "launch -> /readyz 200:      $(python3 -c "print(round($T1-$T0,2))") s   (RSS $RSS)"
echo "SIGTERM -> exit (final checkpoint): $(python3 -c "print(round($T3-$T2,2))") s"
echo "date: $(date -u +%FT%TZ)  cores: $(nproc)"
