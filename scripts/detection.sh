#!/usr/bin/env bash
# Runs `faultline run` once per seed and prints one line per run (seed, exit
# code, detection time, ok ops/s, faults, setup and last-op-to-verdict
# times), then how many runs exited with each code.
# Usage: scripts/detection.sh SEEDS FIRST_SEED -- RUN_OPTIONS...
#   scripts/detection.sh 10 1 -- --nemesis partition --node-args "--bug stale-read" --time-limit 30s
# Runs go to $STORE (default store-detection); the release binary is built
# first, unless $FAULTLINE_BIN names one to use as it is (e.g. a copy, so that
# builds meanwhile do not change what is measured).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=$1; first=$2; shift 2
[ "${1:-}" = "--" ] && shift
store=${STORE:-store-detection}
if [ -n "${FAULTLINE_BIN:-}" ]; then
  bin=$FAULTLINE_BIN
else
  cargo build --release -q -p harness
  bin=${CARGO_TARGET_DIR:-target}/release/faultline
fi
declare -A codes=()
printf 'seed\texit\tdetect_ms\tok/s\tfaults\tleader_changes\tsetup_ms\tlast_op_to_verdict_ms\tdir\n'
for seed in $(seq "$first" $((first + seeds - 1))); do
  set +e
  "$bin" run --quiet --store "$store" --seed "$seed" "$@" >/dev/null 2>&1
  code=$?
  set -e
  dir=$(readlink -f "$store/latest")
  codes[$code]=$(( ${codes[$code]:-0} + 1 ))
  if [ -f "$dir/results.json" ]; then
    jq -r --arg seed "$seed" --arg code "$code" --arg dir "$dir" '[
        $seed, $code,
        (.timings.detection_ms // "-" | if type == "number" then (. | floor | tostring) else . end),
        (if .timings.main_phase_ms > 0 then (.ops.ok / (.timings.main_phase_ms / 1000)) | floor | tostring else "-" end),
        ([.faults | to_entries[] | select(.key != "restarts_seen" and .key != "leader_changes_seen" and .value > 0) | "\(.value) \(.key)"] | join(",")),
        (.faults.leader_changes_seen // 0 | tostring),
        (.timings.setup_ms | floor | tostring),
        (.timings.last_op_to_verdict_ms | floor | tostring),
        $dir
      ] | @tsv' "$dir/results.json" || printf '%s\t%s\t(unreadable results.json)\n' "$seed" "$code"
  else
    printf '%s\t%s\t-\t-\t-\t-\t-\t-\t%s\n' "$seed" "$code" "$dir"
  fi
done
for code in "${!codes[@]}"; do printf 'exit %s: %s runs\n' "$code" "${codes[$code]}"; done
