#!/usr/bin/env bash
# Times `faultline check` over Porcupine's test data: the etcd set and the kv
# set, RUNS times each, and prints every wall time and the median.
# Usage: scripts/bench-porcupine.sh [RUNS]   (data: $FAULTLINE_TESTDATA or ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
data=${FAULTLINE_TESTDATA:-../shared/data}
cargo build --release -q -p harness
bin=${CARGO_TARGET_DIR:-target}/release/faultline
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_it() {
  local label=$1; shift
  local times=()
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s%N)
    "$bin" "$@" >/dev/null || true
    end=$(date +%s%N)
    times+=("$(( (end - start) / 1000 ))")
  done
  printf '%s: runs (ms) %s; median %s ms\n' "$label" \
    "$(printf '%s\n' "${times[@]}" | awk '{printf "%.1f ", $1/1000}')" \
    "$(printf '%s\n' "${times[@]}" | median | awk '{printf "%.1f", $1/1000}')"
}
time_it "etcd set (103 files, one process)" check --format porcupine-etcd "$data"/porcupine/jepsen/etcd_*.log
time_it "kv set (6 files, --first-violation)" check --format porcupine-kv --first-violation "$data"/porcupine/kv/*.txt
time_it "kv set without c50-bad (5 files)" check --format porcupine-kv "$data"/porcupine/kv/c01-*.txt "$data"/porcupine/kv/c10-*.txt "$data"/porcupine/kv/c50-ok.txt
