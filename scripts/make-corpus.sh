#!/usr/bin/env bash
# Regenerates every history of testdata/corpus from the `command` of its
# entry in testdata/corpus/manifest.toml (each writes to standard output and
# is deterministic by its seed), then checks each with `faultline check` and
# prints its verdict beside the manifest's. docs/corpus.md.
# Usage: scripts/make-corpus.sh   (FAULTLINE=path: use that binary, no build)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=testdata/corpus
manifest=$dir/manifest.toml
if [ -z "${FAULTLINE:-}" ]; then
  cargo build --release -q -p harness
  FAULTLINE=${CARGO_TARGET_DIR:-target}/release/faultline
fi
# One tab-separated line per entry: file, format, model, command, verdict.
entries=$(awk -F' = ' '
  function flush() { if (f["file"] != "") print f["file"] "\t" f["format"] "\t" f["model"] "\t" f["command"] "\t" f["verdict"]; delete f }
  /^\[\[entry\]\]/ { flush() }
  $1 ~ /^(file|format|model|command|verdict)$/ { value = $2; gsub(/^"|"$/, "", value); f[$1] = value }
  END { flush() }
' "$manifest")
# Histories no entry names any more are removed.
find "$dir" -type f ! -name manifest.toml -delete
set -f
mismatches=0
while IFS=$'\t' read -r file format model command verdict; do
  read -r -a words <<<"$command"
  [ "${words[0]}" = faultline ] || { echo "$manifest: $file: the command must start with faultline: $command" >&2; exit 3; }
  "$FAULTLINE" "${words[@]:1}" >"$dir/$file"
  set +e
  "$FAULTLINE" check --format "$format" --model "$model" "$dir/$file" >/dev/null 2>&1
  code=$?
  set -e
  got=$([ $code -eq 0 ] && echo valid || { [ $code -eq 1 ] && echo invalid || echo "exit $code"; })
  mark=ok; [ "$got" = "$verdict" ] || { mark=MISMATCH; mismatches=$((mismatches + 1)); }
  printf '%-40s %6s bytes  %-8s (manifest: %s) %s\n' "$file" "$(wc -c <"$dir/$file")" "$got" "$verdict" "$mark"
done <<<"$entries"
set +f
printf 'total: %s bytes in %s files\n' "$(cat "$dir"/* | wc -c)" "$(ls "$dir" | wc -l)"
[ "$mismatches" -eq 0 ] || { echo "$mismatches verdict(s) differ from the manifest" >&2; exit 1; }
