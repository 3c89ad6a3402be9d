#!/usr/bin/env bash
# Prints a suite's outcomes per entry as a Markdown table, from its
# suite.json: runs, how many found an anomaly, how many got their expected
# outcome, and the median and range of the time to detection.
# Usage: scripts/suite-table.sh STORE/suite-<timestamp>/suite.json
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 SUITE_JSON" >&2; exit 2; }
jq -r '
  def median: sort | if length == 0 then null
    elif length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def ms: if . == null then "-" elif . < 1000 then "\(. | floor) ms"
    else "\(. / 100 | floor / 10) s" end;
  "| entry | test | runs | anomaly found | as expected | median time to detection (range) | median run time |",
  "| --- | --- | --- | --- | --- | --- | --- |",
  (.runs | group_by(.entry + " " + .test) | sort_by(.[0].entry)[] |
    [ .[0].entry, .[0].test, (length | tostring),
      ([.[] | select(.got == "invalid")] | length | tostring),
      ([.[] | select(.passed == true)] | length | tostring),
      ([.[] | .detection_ms | select(. != null)] as $d
        | if ($d | length) == 0 then "-"
          else "\($d | median | ms) (\($d | min | ms) to \($d | max | ms))" end),
      ([.[] | .seconds] | median | "\(. | floor) s")
    ] | "| " + join(" | ") + " |")
' "$1"
