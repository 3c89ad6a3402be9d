#!/usr/bin/env bash
# The checker's benchmark table (docs/benchmarks.md, "Checker"): every row is
# one `faultline check` process, RUNS times (default 5), with its median wall
# time and median peak RSS from /usr/bin/time.
#   Porcupine's etcd set, its kv set, kv/c50-bad alone (plus its per-key
#   times from --json), and synthetic 1,000,000-op kv histories over 1,000
#   keys with 1 % crashed ops at 10 and 20 clients per key (made once with
#   `faultline gen` into $WORK, default a temporary directory).
# Usage: scripts/bench-checker.sh [RUNS]   (data: $FAULTLINE_TESTDATA or ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
data=${FAULTLINE_TESTDATA:-../shared/data}
[ -d "$data/porcupine" ] || { echo "missing $data/porcupine" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
cargo build --release -q -p harness
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir = /* ]] || target_dir=$(pwd)/$target_dir
bin=$target_dir/release/faultline
work=${WORK:-$(mktemp -d)}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
row() {
  local label=$1 shown=$2; shift 2
  local walls=() rss=() out
  out=$(mktemp)
  for _ in $(seq "$runs"); do
    # A verdict of 1 (anomaly) or 2 (unknown) is an answer, not a failure.
    /usr/bin/time -o "$out" -f "%e %M" "$bin" "$@" >/dev/null 2>&1 || true
    walls+=("$(tail -1 "$out" | cut -d' ' -f1)")
    rss+=("$(tail -1 "$out" | cut -d' ' -f2)")
  done
  rm -f "$out"
  printf '| %s | `%s` | %s s (%s) | %s MB |\n' "$label" "$shown" \
    "$(printf '%s\n' "${walls[@]}" | median)" "$(printf '%s ' "${walls[@]}" | sed 's/ $//')" \
    "$(printf '%s\n' "${rss[@]}" | median | awk '{printf "%.1f", $1/1024}')"
}
for clients in 10 20; do
  f=$work/kv-1m-c$clients.jsonl
  [ -f "$f" ] || "$bin" gen --model kv --keys 1000 --ops-per-key 1000 --clients "$clients" \
    --crash-rate 0.01 --seed 7 -o "$f"
done
echo "| history | command | median wall (runs) | median peak RSS |"
echo "| --- | --- | --- | --- |"
row "etcd set (103 logs)" "faultline check --format porcupine-etcd jepsen/etcd_*.log" check --format porcupine-etcd "$data"/porcupine/jepsen/etcd_*.log
row "kv set (6 logs)" "faultline check --format porcupine-kv kv/*.txt" check --format porcupine-kv "$data"/porcupine/kv/*.txt
row "kv/c50-bad" "faultline check --format porcupine-kv kv/c50-bad.txt" check --format porcupine-kv "$data"/porcupine/kv/c50-bad.txt
row "1M ops, 1,000 keys, 10 clients/key, 1 % crashed" "faultline check --timeout 120s kv-1m-c10.jsonl" check --timeout 120s "$work/kv-1m-c10.jsonl"
row "1M ops, 1,000 keys, 20 clients/key, 1 % crashed" "faultline check --timeout 120s kv-1m-c20.jsonl" check --timeout 120s "$work/kv-1m-c20.jsonl"
echo
echo "kv/c50-bad per key (one run, --json): key, verdict, configurations, ms"
"$bin" check --json --format porcupine-kv "$data"/porcupine/kv/c50-bad.txt \
  | jq -r '.keys[] | "\(.key)\t\(.verdict)\t\(.configurations)\t\(.millis)"' || true
