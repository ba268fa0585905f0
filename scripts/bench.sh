#!/usr/bin/env bash
# Runs the ingest benchmark (criterion, short runs) and the memory benchmark, then prints the
# figures. Usage: scripts/bench.sh [FACILITIES for the memory run, default 125 = 1,000 meters]
set -euo pipefail
cd "$(dirname "$0")/.."

facilities="${1:-125}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "== building (release) =="
cargo bench --bench ingest --no-run 2>&1 | tail -1
cargo build --release --example memory 2>&1 | tail -1

echo "== ingest benchmark (one core) =="
taskset -c 0 cargo bench --bench ingest -- --warm-up-time 1 --measurement-time 3 \
  | tee "$out/ingest.txt" | grep -E '^ingest/|thrpt:' || true

echo "== memory benchmark ($facilities facilities of 8 meters) =="
taskset -c 0 cargo run --release --example memory -- "$facilities" | tee "$out/memory.txt"

echo
echo "== figures ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores) =="
grep -hE '^(stream|FIGURE|TARGET|RSS)' "$out/ingest.txt" "$out/memory.txt"
