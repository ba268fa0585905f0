#!/usr/bin/env bash
# CONTRACT §10 benchmark: ingest keeps ≥ 0.8× its rate while the heaviest allowed history series
# requests run 8 at a time.
#
# A real Mosquitto and a release `dcpue serve` (durable, config/jiangxi.toml, QoS 1). The same N
# readings (examples/mqtt_load.rs, one per message) are taken three times by a fresh dcpue, each
# timed until `dcpue_ingest_messages_total` reaches N (and dcpue_ingest_last_taken_timestamp_seconds
# says when): alone, then with 8 clients each looping on the heaviest allowed series request
# (`window=397d`, the history kept, at the smallest step that stays within 2000 points: 286m,
# 1999 points over the whole 13 months of hourly buckets), then alone again. Prints the three
# rates, the series requests answered meanwhile, and the ratio loaded / mean of the two alone
# (target ≥ 0.8). Every run uses the same MQTT client id (its session has nothing queued between
# runs, so the broker does the same work each time) and a fresh state dir.
# Usage: scripts/bench_series.sh [N]   (default 300000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-${N:-300000}}
CLIENTS=${CLIENTS:-8}
CONFIG=config/jiangxi.toml
SERIES="/api/v1/facilities/nanchang-1/series?window=397d&step=286m"

cargo build --release --quiet --bin dcpue --example mqtt_load
BIN=target/release/dcpue
LOAD=target/release/examples/mqtt_load

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

start_bench_broker "0"


# run NAME CLIENTS: a fresh dcpue takes N readings while CLIENTS series loops run; sets RATE[NAME].
declare -A RATE SERVED
run() {
  local name=$1 clients=$2
  local http state d t0 t1 p c
  state="$TMP/state-$name"
  DCPUE_MQTT_URL="mqtt://127.0.0.1:$PORT" DCPUE_MQTT_CLIENT_ID=bench-series \
    DCPUE_HTTP_LISTEN="127.0.0.1:0" DCPUE_STORAGE_DIR="$state" \
    "$BIN" serve --config "$CONFIG" 2>"$TMP/dcpue-$name.log" &
  d=$!
  PIDS+=($d)
  http=$(wait_serving "$d" "$TMP/dcpue-$name.log") # the port it bound
  for _ in $(seq 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http/readyz")" = 200 ] && break
    sleep 0.1
  done
  # Each client: one curl on one keep-alive connection, the same request over and over; the
  # status of each answer goes (unbuffered, on stderr) to its own file.
  local loops=()
  for c in $(seq "$clients"); do
    curl -s -o /dev/null -w '%{stderr}%{http_code}\n' "http://127.0.0.1:$http$SERIES&n=[1-1000000]" \
      2> "$TMP/series-$name-$c.txt" &
    loops+=($!)
    PIDS+=($!)
  done
  t0=$(now)
  "$LOAD" "$CONFIG" "127.0.0.1:$PORT" "$N" 1 2>"$TMP/load-$name.log" &
  p=$!
  PIDS+=($p)
  local start=$SECONDS
  while [ "$(taken "$http")" -lt "$N" ]; do
    sleep 0.25
    if ! kill -0 "$d" 2>/dev/null; then echo "dcpue died:"; cat "$TMP/dcpue-$name.log"; exit 1; fi
    if [ $((SECONDS - start)) -gt 600 ]; then echo "dcpue took more than 600 s"; exit 1; fi
  done
  t1=$(metric "$http" dcpue_ingest_last_taken_timestamp_seconds)
  for c in "${loops[@]}"; do kill "$c" 2>/dev/null || true; done
  wait "$p"
  local ok bad
  ok=$(cat "$TMP"/series-"$name"-*.txt 2>/dev/null | grep -c '^200$' || true)
  bad=$(cat "$TMP"/series-"$name"-*.txt 2>/dev/null | grep -vc '^200$' || true)
  kill -TERM "$d"; wait "$d" || true
  RATE[$name]=$(python3 -c "print(round($N/($t1-$t0)))")
  SERVED[$name]=$ok
  echo "$name: $N messages in $(python3 -c "print(round($t1-$t0,2))") s = ${RATE[$name]}/s; $clients series clients, $ok series answered ($(python3 -c "print(round($ok/($t1-$t0),1))")/s), $bad not 200"
  [ "$bad" -eq 0 ] || { echo "series requests failed"; exit 1; }
}

run alone 0
run series "$CLIENTS"
run alone-again 0
BASE=$(python3 -c "print((${RATE[alone]}+${RATE[alone-again]})/2)")
echo "ratio ingest with $CLIENTS series clients / alone: $(python3 -c "print(round(${RATE[series]}/$BASE,3))") (target >= 0.8)"
echo "date: $(date -u +%FT%TZ)  N=$N  cores: $(nproc)"
