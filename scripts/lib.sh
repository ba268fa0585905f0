# Shared by the benchmark scripts (sourced, not run): servers on loopback ports, a clock, and a
# temporary directory whose processes are stopped and files removed when the script exits.
#
# Ports: `dcpue serve` listens on 127.0.0.1:0 and the script reads the port it bound from its
# log (serving_port). Mosquitto must be given its port: it is started on a port found free a
# moment before and counts as started only once its own process listens there (/proc), else
# it is started again on another port (start_bench_broker).

# A port free a moment ago (bound on port 0, then released): only a candidate for
# start_bench_broker, which checks that Mosquitto itself got it.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Whether process $1 listens on TCP port $2 at 127.0.0.1 (or every address), from /proc.
listens() {
  python3 - "$1" "$2" <<'PY'
import os, sys
pid, port = sys.argv[1], int(sys.argv[2])
inodes = set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        f = line.split()
        if len(f) < 10 or f[3] != "0A":
            continue
        addr, p = f[1].rsplit(":", 1)
        if (addr == "0100007F" or set(addr) == {"0"}) and int(p, 16) == port:
            inodes.add("socket:[%s]" % f[9])
try:
    fds = os.listdir("/proc/%s/fd" % pid)
except OSError:
    sys.exit(1)
for fd in fds:
    try:
        if os.readlink("/proc/%s/fd/%s" % (pid, fd)) in inodes:
            sys.exit(0)
    except OSError:
        pass
sys.exit(1)
PY
}
# The HTTP port in the "dcpue serving addr=..." line of dcpue's log $1 (empty until it serves).
serving_port() {
  sed -e 's/\x1b\[[0-9;]*m//g' "$1" 2>/dev/null \
    | sed -n 's/.*dcpue serving.*addr=[^ ]*:\([0-9][0-9]*\).*/\1/p' | head -n 1 || true
}
# Waits until dcpue (pid $1, log $2) serves and prints its HTTP port; exits the script if it
# stopped or did not serve within 60 s.
wait_serving() {
  local port=""
  for _ in $(seq 600); do
    port=$(serving_port "$2")
    [ -n "$port" ] && { echo "$port"; return 0; }
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  echo "dcpue did not serve:" >&2
  cat "$2" >&2
  exit 1
}
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
  local pid
  for _ in $(seq 20); do
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
    pid=$!
    for _ in $(seq 100); do
      listens "$pid" "$PORT" && { PIDS+=("$pid"); return 0; }
      kill -0 "$pid" 2>/dev/null || break # it could not bind: another process took the port
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  echo "mosquitto did not start:" >&2
  cat "$TMP/mosquitto.log" >&2
  exit 1
}

metric() { # the value of one unlabelled metric of dcpue on port $1
  curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1==m {v=$2} END {print v}'
}
taken() { printf '%d\n' "$(metric "$1" dcpue_ingest_messages_total)"; } # messages taken, a live counter
