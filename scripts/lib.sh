# Shared by the benchmark scripts (sourced, not run): free loopback ports, a clock, and a
# temporary directory whose processes are stopped and files removed when the script exits.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

TMP=$(mktemp -d)
PIDS=() # processes to stop at exit; add with PIDS+=($!)
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# A throwaway Mosquitto on a free port (sets PORT), nothing persisted, no queue or size limits;
# $1: its max_inflight_messages (0: none).
start_bench_broker() {
  PORT=$(free_port)
  cat > "$TMP/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
user $(id -un)
persistence false
max_inflight_messages ${1:-0}
max_queued_messages 0
message_size_limit 0
CONF
  mosquitto -c "$TMP/mosquitto.conf" 2>"$TMP/mosquitto.log" &
  PIDS+=($!)
  for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
}

metric() { # the value of one unlabelled metric of dcpue on port $1
  curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1==m {v=$2} END {print v}'
}
taken() { printf '%d\n' "$(metric "$1" dcpue_ingest_messages_total)"; } # messages taken, a live counter
