#!/usr/bin/env bash
# Runs the integration tests and prints how many emulator responses the OpenAPI conformance
# check validated (issue 3). Every test that starts an emulator judges its own traffic when it
# ends and prints `openapi-conformance: validated=N test=NAME` on stderr; this sums those lines.
#
#   scripts/conformance-count.sh              # the whole `it` binary
#   scripts/conformance-count.sh sim_         # only tests matching a filter
#
# Needs what scripts/test.sh sets up (target/py with hcloud-python for the Python witness).
set -euo pipefail
cd "$(dirname "$0")/.."
export TALOS_HCLOUD_TEST_PYTHON="${TALOS_HCLOUD_TEST_PYTHON:-$PWD/target/py/bin/python}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked --test it -- --nocapture "$@" >"$log" 2>&1 || status=$?
grep -E '^test result:' "$log" || true
grep -oE 'openapi-conformance: validated=[0-9]+' "$log" \
    | awk -F= '{ total += $2; tests += 1 } END { printf "validated responses: %d (in %d emulator checks)\n", total, tests }'
exit "$status"
