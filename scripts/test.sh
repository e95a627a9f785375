#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then checks formatting
# (cargo fmt --check), lints (cargo clippy --all-targets -- -D warnings) and runs the whole
# suite (cargo test --all-targets).
#
#   scripts/test.sh            # everything (as root, or with sudo available)
#   scripts/test.sh cli::      # the checks, then only the tests whose names match
#
# Installs what is missing: a Rust toolchain (rustup) if there is none; via apt: a C
# compiler, openssl, zstd, xz-utils, python3-venv, openssh-server, bubblewrap, wget, curl,
# hcloud-cli; via pip into target/py: the official
# Hetzner Cloud Python client.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# Rust: use the machine's toolchain; on a machine without one, install rustup's stable.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "installing the Rust toolchain (rustup, stable)" >&2
    command -v curl >/dev/null 2>&1 || { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq curl ca-certificates build-essential >/dev/null; }
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
    export PATH="$HOME/.cargo/bin:$PATH"
fi

missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
command -v xz >/dev/null 2>&1 || missing+=(xz-utils)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# The emulator's machines: a real SSH server for rescue sessions tested against OpenSSH,
# commands sandboxed with bubblewrap, the rescue's tools, and the official hcloud CLI.
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v setsid >/dev/null 2>&1 || missing+=(util-linux)
command -v wget >/dev/null 2>&1 || missing+=(wget)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v hcloud >/dev/null 2>&1 || missing+=(hcloud-cli)
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

# Formatting and lints first: a style slip fails in seconds, before the long test build.
# (rustfmt and clippy come with rustup's default profile; the minimal one above lacks them.)
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 && command -v rustup >/dev/null 2>&1; then
        rustup component add "$component" >/dev/null
    fi
done
echo "== cargo fmt --check" >&2
cargo fmt --all --check
echo "== cargo clippy --all-targets --locked -- -D warnings" >&2
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test --all-targets --locked" >&2
cargo test --locked --all-targets "$@"
