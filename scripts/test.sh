#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then runs the whole suite.
#
#   scripts/test.sh            # everything (as root, or with sudo available)
#
# Needs: a Rust toolchain (cargo), python3 with venv/pip. Installs via apt: openssl, zstd,
# xz-utils; via pip into target/py: the official Hetzner Cloud Python client.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
command -v xz >/dev/null 2>&1 || missing+=(xz-utils)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The official Hetzner Cloud Python client drives the emulator in tests/it (pinned).
if [ ! -x target/py/bin/python ]; then
    python3 -m venv target/py
fi
target/py/bin/python -m pip install --quiet --disable-pip-version-check 'hcloud==2.27.0'
export TALOS_HCLOUD_TEST_PYTHON="$PWD/target/py/bin/python"

cargo test --locked --all-targets "$@"
