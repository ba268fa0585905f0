#!/usr/bin/env bash
# `dcpue import` throughput: a year of 1-minute energy-register readings of METERS meters
# (default 20: half total, half IT; 525,600 rows each, 10.5 M rows) in one CSV written by awk,
# imported (release build) into a fresh state directory. Prints rows/s and the wall time, and
# the ratio to a reference measured in the same run on the same file: one awk pass that reads
# every line, splits it on commas and sums the energy column (reading and splitting the CSV
# with no judgement, no sort and nothing stored).
# Usage: scripts/bench_import.sh [METERS] [DAYS]
set -euo pipefail
cd "$(dirname "$0")/.."
METERS=${1:-20}
DAYS=${2:-365}
cargo build --release --quiet --bin dcpue
BIN=target/release/dcpue

# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# The year ends at today's 00:00 UTC (nothing in the future, all inside the history kept).
END_MS=$(( $(date -u -d 'today 00:00' +%s) * 1000 ))
START_MS=$(( END_MS - DAYS * 86400000 ))

{
  printf '[mqtt]\nurl = "mqtt://127.0.0.1:1"\nclient_id = "bench-import"\ntopic_prefix = "dc"\nqos = 1\n\n'
  printf '[http]\nlisten = "127.0.0.1:0"\n\n[storage]\ndir = "%s/state"\n\n' "$TMP"
  printf '[[facility]]\nid = "bench-1"\nname = "bench"\ncity = "Nanchang"\ntier = "core"\nclass = "large"\ncommissioned = "2023-06-01"\n'
  for ((m = 0; m < METERS; m++)); do
    role=$([ $((m % 2)) = 0 ] && echo total || echo it)
    printf '  [[facility.meter]]\n  id = "m%02d"\n  role = "%s"\n' "$m" "$role"
  done
} > "$TMP/dcpue.toml"

echo "generating $METERS meters x $DAYS days of 1-minute readings..."
awk -v meters="$METERS" -v start="$START_MS" -v n=$((DAYS * 1440)) 'BEGIN {
  print "ts,meter,power_kw,energy_kwh"
  for (i = 0; i < n; i++) {
    ts = start + i * 60000
    for (m = 0; m < meters; m++) {
      # total meters about 1.3 x the IT meters, a little variation per minute
      printf "%.0f,m%02d,,%.3f\n", ts, m, 100000 + i * ((m % 2) ? 1.0 : 1.3) + (i % 7) * 0.001
    }
  }
}' > "$TMP/year.csv"
ROWS=$(( DAYS * 1440 * METERS ))
SIZE=$(stat -c %s "$TMP/year.csv")
cat "$TMP/year.csv" > /dev/null # page cache warm for both runs

T0=$(now)
awk -F, 'NR > 1 { s += $4 } END { printf "%.0f\n", s }' "$TMP/year.csv" > /dev/null
T1=$(now)
"$BIN" import --config "$TMP/dcpue.toml" --facility bench-1 "$TMP/year.csv" \
  > "$TMP/import.out" 2> "$TMP/import.log" &
D=$!
PEAK=0
while kill -0 "$D" 2>/dev/null; do
  R=$(awk '/VmRSS/ {print $2}' /proc/$D/status 2>/dev/null || echo 0)
  [ "${R:-0}" -gt "$PEAK" ] && PEAK=$R
  sleep 0.2
done
wait "$D" || { echo "import failed:"; cat "$TMP/import.log" "$TMP/import.out"; exit 1; }
T2=$(now)
tail -1 "$TMP/import.out"
grep -q " imported=$ROWS " "$TMP/import.out" || { echo "not every row was imported"; exit 1; }
REF=$(python3 -c "print($T1-$T0)")
WALL=$(python3 -c "print($T2-$T1)")
echo "file: $ROWS rows, $SIZE bytes ($(python3 -c "print(round($SIZE/1048576))") MiB)"
echo "reference (awk: read, split, sum a column): $(python3 -c "print(round($REF,2))") s"
echo "dcpue import: $(python3 -c "print(round($WALL,2))") s wall, $(python3 -c "print(round($ROWS/$WALL))") rows/s, peak RSS ~$((PEAK / 1024)) MiB"
echo "ratio import / reference: $(python3 -c "print(round($WALL/$REF,2))")"
echo "date: $(date -u +%FT%TZ)  cores: $(nproc)"
