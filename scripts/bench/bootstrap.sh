#!/usr/bin/env bash
# Benchmark of the bootstrap (issue 11, "Benchmark"), on the time-scaled emulator, one run:
#
#   3+3     the reference cluster (./cluster.yaml: 3 control planes, 3 workers, floating IP,
#           ingress load balancer; admin CIDRs opened to 127.0.0.0/8 for the emulator).
#           The arm64 snapshot and the secrets bundle are made first, so `apply` alone is
#           timed. Wall time of `apply` against the critical path of dependent actions,
#           computed from the emulator: every action's started/finished (simulated time,
#           from the response bodies in GET /__sim/log) and the Talos boot delay
#           (GET /__sim/settings where the emulator has it, else its documented 40 s);
#           API requests (GET /__sim/log; records with the emulated nodes' User-Agent, their
#           VIP calls, are left out where the log has it) and apply's own count.
#   100     the reference cluster with 97 cax11 workers (3 control planes + 97 workers; the
#           ingress load balancer as lb31, whose 150 targets fit the pool), on a fresh
#           emulator: requests used by `plan` + `apply`.
#
# Critical path (simulated seconds, then / time scale): per server, the longest of its
# referenced resources' creates (network, firewall, placement group, primary IP), then its
# own actions in order (each counted from when it could begin: the later of its start and
# the previous action's end), with the Talos boot (maintenance mode) starting when the
# start action ends; then the boot into configured mode. Load balancers (after the network)
# and the floating IP assignment (after the first control plane) run alongside. Bootstrap,
# etcd and health have no simulated delay: their time is the tool's overhead.
#
# Targets: wall <= 1.15 x critical path; <= 60 requests for 3+3; <= 1000 for 100 nodes.
# The tool polls actions when their progress says they end (at least 0.25 s apart) and the
# Talos API every 0.2 s, in real time: a high time scale shrinks the critical path but not
# these intervals, so the ratio is only comparable across runs of the same TIME_SCALE.
#
# Not a timed test: run it by hand, as root (the snapshot build's rescue system binds
# port 22). Usage: scripts/bench/bootstrap.sh. TIME_SCALE (default 10) sets the emulator's
# speed; NODES100=0 skips the 100-node part; PROFILE=release builds the release binary
# (default: the dev build); TALOS_HCLOUD_BIN=PATH uses that binary as it is.
set -euo pipefail

scale=${TIME_SCALE:-10}
nodes100=${NODES100:-1}
root=$(cd "$(dirname "$0")/../.." && pwd)
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (the emulated rescue system listens on port 22)" >&2; exit 2; }

# Cargo says where it put the binary (CARGO_TARGET_DIR, a build.target-dir setting or
# ./target).
profile=${PROFILE:-dev}
bin=${TALOS_HCLOUD_BIN:-}
if [ -n "$bin" ]; then
  profile="given ($bin)"
else
  bin=$(cd "$root" && cargo build --locked --profile "$profile" --bin talos-hcloud \
    --message-format=json-render-diagnostics | python3 -c 'import json, sys
built = [m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable")]
print(built[-1] if built else "")')
fi
[ -x "$bin" ] || { echo "bench: no talos-hcloud binary at '$bin'" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/talos-hcloud-bootstrap.XXXXXX")
sim_pid=
stop_sim() {
  if [ -n "$sim_pid" ]; then
    kill -INT "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  sim_pid=
}
cleanup() {
  stop_sim
  rm -rf "$work"
}
trap cleanup EXIT

# Starts an emulator writing its JSON line to $1/sim.json; exports the client variables.
start_sim() {
  mkdir -p "$1"
  "$bin" --output json sim --seed 7 --time-scale "$scale" --image-size $((64 * 1024 * 1024)) \
    --state-dir "$1/state" >"$1/sim.json" 2>"$1/sim.log" &
  sim_pid=$!
  for _ in $(seq 300); do [ -s "$1/sim.json" ] && break; sleep 0.1; done
  [ -s "$1/sim.json" ] || { echo "bench: the emulator did not start:" >&2; cat "$1/sim.log" >&2; exit 1; }
  eval "$(python3 -c 'import json, shlex, sys
d = json.load(open(sys.argv[1]))
for key, value in d["env"].items():
    print(f"export {key}={shlex.quote(value)}")
print("controls=" + shlex.quote(d["controls"]))' "$1/sim.json")"
}

control() { curl -sf -H "Authorization: Bearer $HCLOUD_TOKEN" -X "$1" "$controls$2"; }

# A workspace: the reference cluster's files, admin CIDRs opened to loopback.
workspace() {
  mkdir -p "$1"
  cp -r "$root/cluster.yaml" "$root/schematics" "$root/machine-patches" "$1/"
  sed -i 's|admin_cidrs: \[203.0.113.7/32\]|admin_cidrs: [127.0.0.0/8]|' "$1/cluster.yaml"
  grep -q '127.0.0.0/8' "$1/cluster.yaml" || { echo "bench: cluster.yaml has no admin_cidrs line to adapt" >&2; exit 1; }
}

now() { python3 -c 'import time; print(time.time())'; }

# Runs `apply` on $1/cluster.yaml, timed; the log of its requests goes to $1/apply-log.json.
timed_apply() {
  control DELETE /log >/dev/null
  local started ended
  started=$(now)
  "$bin" -c "$1/cluster.yaml" --output json apply >"$1/apply.json" 2>"$1/apply.err" ||
    { echo "bench: apply failed:" >&2; tail -n 30 "$1/apply.err" >&2; exit 1; }
  ended=$(now)
  python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$started" "$ended" >"$1/wall"
  control GET /log >"$1/apply-log.json"
}

echo "== 3+3 reference cluster, emulator at ${scale}x" >&2
small=$work/small
start_sim "$small"
workspace "$small"
"$bin" -c "$small/cluster.yaml" image build >"$small/build.out" 2>&1 ||
  { echo "bench: image build failed:" >&2; tail -n 30 "$small/build.out" >&2; exit 1; }
"$bin" -c "$small/cluster.yaml" secrets gen >/dev/null
timed_apply "$small"
control GET /settings >"$small/settings.json" || echo "{}" >"$small/settings.json"
stop_sim

if [ "$nodes100" != 0 ]; then
  echo "== 100 nodes (3 control planes + 97 workers), emulator at ${scale}x" >&2
  big=$work/big
  start_sim "$big"
  workspace "$big"
  sed -i 's|^    count: 3 .*|    count: 97|; s|^    type: cax41|    type: cax11|; s|^    type: lb11|    type: lb31|' "$big/cluster.yaml"
  grep -q 'count: 97' "$big/cluster.yaml" || { echo "bench: cannot set the worker count" >&2; exit 1; }
  "$bin" -c "$big/cluster.yaml" image build >"$big/build.out" 2>&1 ||
    { echo "bench: image build failed:" >&2; tail -n 30 "$big/build.out" >&2; exit 1; }
  "$bin" -c "$big/cluster.yaml" secrets gen >/dev/null
  control DELETE /log >/dev/null
  "$bin" -c "$big/cluster.yaml" plan >"$big/plan.out" 2>&1 ||
    { echo "bench: plan failed:" >&2; tail -n 30 "$big/plan.out" >&2; exit 1; }
  control GET /log >"$big/plan-log.json"
  timed_apply "$big"
  stop_sim
fi

python3 "$root/scripts/bench/bootstrap_report.py" "$work" "$scale" "$profile"
