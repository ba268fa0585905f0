#!/usr/bin/env bash
# Issue 3 + 9 benchmark: how fast `dcpue serve` (durable: write-ahead log, one fsync per batch
# before the broker's ack) takes readings from a real Mosquitto, against the broker's own limit
# on this machine (`mosquitto_sub`), at QoS 0 and QoS 1.
#
# The same N readings (one per message, round-robin over the meters of config/jiangxi.toml,
# published on one connection by examples/mqtt_load.rs with a 65535-message inflight window) are
# published twice per QoS: once into `mosquitto_sub -q Q -C N` (timed until it has received all
# N), once into `dcpue serve` (timed until the sum of dcpue_readings_accepted_total reaches N).
# The broker is configured with max_inflight_messages 0 (unlimited; the default 20 would cap
# any QoS 1 subscriber) and max_queued_messages 0 (unlimited: nothing is dropped), no
# persistence. Usage: scripts/bench_mqtt.sh [N]   (default 500000); PERF=1 also profiles dcpue
# with `perf record -g` and prints where its time goes.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-${N:-500000}}
CONFIG=config/jiangxi.toml

cargo build --release --quiet --bin dcpue --example mqtt_load
BIN=target/release/dcpue
LOAD=target/release/examples/mqtt_load

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(free_port)
cat > "$TMP/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
user $(id -un)
persistence false
max_inflight_messages 0
max_queued_messages 0
message_size_limit 0
CONF
mosquitto -c "$TMP/mosquitto.conf" 2>"$TMP/mosquitto.log" &
PIDS+=($!)
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

accepted_sum() { # sum of one counter family over all facilities
  curl -s "http://127.0.0.1:$1/metrics" | awk -v fam="$2" 'index($0, fam"{")==1 {s+=$NF} END {printf "%d\n", s}'
}

declare -A RATE
for Q in 0 1; do
  # 1. The broker's limit: mosquitto_sub takes everything.
  mosquitto_sub -h 127.0.0.1 -p "$PORT" -q "$Q" -C "$N" -t 'dc/#' -i "bench-sub-$Q" >/dev/null &
  SUB=$!
  PIDS+=($SUB)
  sleep 0.5
  T0=$(now)
  "$LOAD" "$CONFIG" "127.0.0.1:$PORT" "$N" "$Q"
  wait "$SUB"
  T1=$(now)
  RATE[sub$Q]=$(python3 -c "print(round($N/($T1-$T0)))")
  echo "QoS $Q mosquitto_sub: $N messages in $(python3 -c "print(round($T1-$T0,2))") s = ${RATE[sub$Q]}/s"

  # 2. dcpue serve, durable, fresh state dir.
  HTTP=$(free_port)
  STATE="$TMP/state-$Q"
  sed -e "s/^qos = 1/qos = $Q/" "$CONFIG" > "$TMP/dcpue-$Q.toml"
  DCPUE_MQTT_URL="mqtt://127.0.0.1:$PORT" DCPUE_MQTT_CLIENT_ID="bench-dcpue-$Q" \
    DCPUE_HTTP_LISTEN="127.0.0.1:$HTTP" DCPUE_STORAGE_DIR="$STATE" \
    "$BIN" serve --config "$TMP/dcpue-$Q.toml" 2>"$TMP/dcpue-$Q.log" &
  D=$!
  PIDS+=($D)
  for _ in $(seq 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP/readyz")" = 200 ] && break
    sleep 0.1
  done
  if [ -n "${PERF:-}" ]; then
    perf record -q -F 499 -g -p "$D" -o "$TMP/perf-$Q.data" 2>/dev/null &
    PERFPID=$!
    sleep 0.3
  fi
  T0=$(now)
  "$LOAD" "$CONFIG" "127.0.0.1:$PORT" "$N" "$Q" &
  P=$!
  PIDS+=($P)
  while [ "$(accepted_sum "$HTTP" dcpue_readings_accepted_total)" -lt "$N" ]; do
    sleep 0.05
    if ! kill -0 "$D" 2>/dev/null; then echo "dcpue died:"; cat "$TMP/dcpue-$Q.log"; exit 1; fi
    if [ "$(python3 -c "print(int($(now)-$T0))")" -gt 600 ]; then echo "dcpue took more than 600 s"; exit 1; fi
  done
  T1=$(now)
  if [ -n "${PERF:-}" ]; then
    kill -INT "$PERFPID"; wait "$PERFPID" || true
    R="$TMP/perf-$Q.data"
    [ -n "${PERF_DIR:-}" ] && cp "$R" "$PERF_DIR/"
    perf report -i "$R" --no-children --sort comm --stdio 2>/dev/null > "$TMP/comm.txt" || true
    perf report -i "$R" --no-children --sort symbol --stdio -g none 2>/dev/null > "$TMP/self.txt" || true
    perf report -i "$R" --children --sort symbol --stdio -g none 2>/dev/null > "$TMP/incl.txt" || true
    echo "--- perf: dcpue serve at QoS $Q, by thread"
    grep -E '^ +[0-9]' "$TMP/comm.txt" | head -8 || true
    echo "--- perf: self time by symbol (top 20)"
    grep -E '^ +[0-9]' "$TMP/self.txt" | head -20 | cut -c1-120 || true
    echo "--- perf: inclusive time, dcpue / syscalls (top 30)"
    grep -E '^ +[0-9]' "$TMP/incl.txt" | grep -E 'dcpue::|sys_|fsync|fdatasync|write|recv|send|epoll' | head -30 | cut -c1-130 || true
  fi
  wait "$P"
  sleep 1
  ACC=$(accepted_sum "$HTTP" dcpue_readings_accepted_total)
  REJ=$(accepted_sum "$HTTP" dcpue_readings_rejected_total)
  WAL=$(du -sh "$STATE" | cut -f1)
  kill -TERM "$D"; wait "$D" || true
  RATE[dcpue$Q]=$(python3 -c "print(round($N/($T1-$T0)))")
  echo "QoS $Q dcpue serve:    $N readings in $(python3 -c "print(round($T1-$T0,2))") s = ${RATE[dcpue$Q]}/s (accepted $ACC, rejected $REJ, lost $((N-ACC)), state dir $WAL)"
  echo "QoS $Q ratio dcpue/mosquitto_sub: $(python3 -c "print(round(${RATE[dcpue$Q]}/${RATE[sub$Q]},3))")"
  [ "$ACC" -eq "$N" ] && [ "$REJ" -eq 0 ] || { echo "readings lost or rejected"; exit 1; }
done
echo "date: $(date -u +%FT%TZ)  N=$N  cores: $(nproc)  mosquitto: $(mosquitto -h 2>/dev/null | head -1)"
