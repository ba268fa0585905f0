#!/usr/bin/env bash
# Issue 3 + 9 benchmark: how fast `dcpue serve` (durable: write-ahead log, one fsync per batch
# before the broker's ack) takes readings from a real Mosquitto, against the broker's own limit
# on this machine (`mosquitto_sub`), at QoS 0 and QoS 1.
#
# The same N readings (one per message, round-robin over the meters of config/jiangxi.toml,
# published on one connection by examples/mqtt_load.rs with a 65535-message inflight window) are
# published twice per QoS: once into `mosquitto_sub -q Q -C N` (timed until it has received all
# N), once into `dcpue serve` (timed until it has taken N messages: dcpue_ingest_messages_total
# reaches N, and dcpue_ingest_last_taken_timestamp_seconds says when; then every reading must be
# counted in dcpue_readings_accepted_total, which comes from the snapshot published every 0.2-0.5 s).
# The broker is configured with max_inflight_messages 0 (unlimited, as the README advises) and
# max_queued_messages 0 (unlimited: nothing is dropped), no persistence. Usage: scripts/bench_mqtt.sh [N]   (default 500000). PERF=1 also profiles dcpue
# with `perf record -g` and prints where its time goes; PERF_STAT=1 counts its system calls and
# context switches and its CPU by thread; INFLIGHT=20 sets the broker's max_inflight_messages
# (Mosquitto's default) instead of 0.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-${N:-500000}}
CONFIG=config/jiangxi.toml

cargo build --release --quiet --bin dcpue --example mqtt_load
BIN=target/release/dcpue
LOAD=target/release/examples/mqtt_load

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

start_bench_broker "${INFLIGHT:-0}"

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # utime+stime, in ticks
TICK=$(getconf CLK_TCK)
us_per() { python3 -c "print(round(($2)*1e6/$TICK/$1, 2))"; } # N, ticks -> CPU us per message
time_us_per() { python3 -c "print(round(($(awk '{print $1+$2}' "$2"))*1e6/$1, 2))"; } # N, /usr/bin/time file -> CPU us per message
thread_ticks() { for t in /proc/$1/task/*; do echo "$(basename "$t") $(cat "$t/comm") $(awk '{print $14+$15}' "$t/stat")"; done; }

accepted_sum() { # sum of one counter family over all facilities
  curl -s "http://127.0.0.1:$1/metrics" | awk -v fam="$2" 'index($0, fam"{")==1 {s+=$NF} END {printf "%d\n", s}'
}

declare -A RATE
for Q in 0 1; do
  # 1. The broker's limit: mosquitto_sub takes everything.
  /usr/bin/time -f "%U %S" -o "$TMP/sub-$Q.time" \
    mosquitto_sub -h 127.0.0.1 -p "$PORT" -q "$Q" -C "$N" -t 'dc/#' -i "bench-sub-$Q" >/dev/null &
  SUB=$!
  PIDS+=($SUB)
  sleep 0.5
  B0=$(cpu_ticks "${PIDS[0]}")
  T0=$(now)
  /usr/bin/time -f "%U %S" -o "$TMP/load-sub-$Q.time" "$LOAD" "$CONFIG" "127.0.0.1:$PORT" "$N" "$Q"
  wait "$SUB"
  T1=$(now)
  B1=$(cpu_ticks "${PIDS[0]}")
  echo "QoS $Q CPU per message: mosquitto_sub $(time_us_per "$N" "$TMP/sub-$Q.time") us, broker $(us_per "$N" "$B1-$B0") us, publisher $(time_us_per "$N" "$TMP/load-sub-$Q.time") us"
  RATE[sub$Q]=$(python3 -c "print(round($N/($T1-$T0)))")
  echo "QoS $Q mosquitto_sub: $N messages in $(python3 -c "print(round($T1-$T0,2))") s = ${RATE[sub$Q]}/s"

  # 2. dcpue serve, durable, fresh state dir.
  STATE="$TMP/state-$Q"
  sed -e "s/^qos = 1/qos = $Q/" "$CONFIG" > "$TMP/dcpue-$Q.toml"
  DCPUE_MQTT_URL="mqtt://127.0.0.1:$PORT" DCPUE_MQTT_CLIENT_ID="bench-dcpue-$Q" \
    DCPUE_HTTP_LISTEN="127.0.0.1:0" DCPUE_STORAGE_DIR="$STATE" \
    "$BIN" serve --config "$TMP/dcpue-$Q.toml" 2>"$TMP/dcpue-$Q.log" &
  D=$!
  PIDS+=($D)
  HTTP=$(wait_serving "$D" "$TMP/dcpue-$Q.log") # the port it bound
  for _ in $(seq 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP/readyz")" = 200 ] && break
    sleep 0.1
  done
  if [ -n "${PERF_STAT:-}" ]; then
    perf stat -e context-switches,syscalls:sys_enter_fdatasync,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait \
      -p "$D" -o "$TMP/stat-$Q.txt" &
    STATPID=$!
    thread_ticks "$D" > "$TMP/threads0-$Q"
  fi
  if [ -n "${PERF:-}" ]; then
    perf record -q -F 499 -g -p "$D" -o "$TMP/perf-$Q.data" 2>/dev/null &
    PERFPID=$!
    sleep 0.3
  fi
  B0=$(cpu_ticks "${PIDS[0]}")
  C0=$(cpu_ticks "$D")
  T0=$(now)
  /usr/bin/time -f "%U %S" -o "$TMP/load-dcpue-$Q.time" "$LOAD" "$CONFIG" "127.0.0.1:$PORT" "$N" "$Q" &
  P=$!
  PIDS+=($P)
  # The poll is kept light and slow (it shares the 2 cores with the run it times); the time of
  # the last take comes from dcpue_ingest_last_taken_timestamp_seconds.
  START=$SECONDS
  while [ "$(taken "$HTTP")" -lt "$N" ]; do
    sleep 0.25
    if ! kill -0 "$D" 2>/dev/null; then echo "dcpue died:"; cat "$TMP/dcpue-$Q.log"; exit 1; fi
    if [ $((SECONDS - START)) -gt 600 ]; then echo "dcpue took more than 600 s"; exit 1; fi
  done
  # When the last of them was taken (dcpue's own clock, the same as `date`'s).
  T1=$(metric "$HTTP" dcpue_ingest_last_taken_timestamp_seconds)
  C1=$(cpu_ticks "$D")
  B1=$(cpu_ticks "${PIDS[0]}")
  echo "QoS $Q CPU per reading: dcpue serve $(us_per "$N" "$C1-$C0") us, broker $(us_per "$N" "$B1-$B0") us"
  if [ -n "${PERF_STAT:-}" ]; then
    kill -INT "$STATPID"; wait "$STATPID" || true
    echo "--- CPU by thread (ms): dcpue serve at QoS $Q"
    thread_ticks "$D" |
      awk -v tick="$TICK" 'NR==FNR {b[$1]=$3; next} {d=$3-b[$1]; if (d>0) printf "  %-8s %-18s %6d\n", $1, $2, d*1000/tick}' "$TMP/threads0-$Q" -
    echo "--- perf stat: dcpue serve at QoS $Q (system calls and context switches)"
    grep -E '^ +[0-9]' "$TMP/stat-$Q.txt" || true
  fi
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
  echo "QoS $Q CPU per message: publisher $(time_us_per "$N" "$TMP/load-dcpue-$Q.time") us"
  sleep 1 # the next snapshot
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
