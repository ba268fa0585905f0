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
