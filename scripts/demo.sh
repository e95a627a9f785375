#!/usr/bin/env bash
# The main job, rehearsed offline on the built-in simulator, for the reference cluster in
# ./cluster.yaml: everything talos-hcloud does today, with no Hetzner account and no network.
#
#   scripts/demo.sh
#
# The first run builds talos-hcloud (several minutes); CARGO_TARGET_DIR is honoured.
#
# 1. validate cluster.yaml (schematic ID computed offline, every rule checked);
# 2. compute the Image Factory schematic ID;
# 3. start the emulator (Hetzner Cloud API, Image Factory, machines) at 100x time with small
#    images: the endpoints a real run would talk to;
# 4. build the Talos snapshot as on Hetzner: a temporary server in rescue over SSH, the
#    factory image written to its disk and verified, snapshotted, everything temporary
#    deleted (needs root: the rescue system listens on port 22 of 127.x), then list it;
# 5. generate the cluster's secrets bundle (0600, never overwritten);
# 6. plan the reference cluster against the emulated project, priced, and run `doctor`;
# 7. render every node's machine config and the talosconfig (validated, deterministic);
# 8. boot an emulated Talos control-plane node from cp-1's config (it validates the
#    config strictly, as Talos does);
# 9. ask it for its version over the Talos API with mutual TLS, with the talosconfig from
#    step 7 (client certificate from the cluster's CA, node verified against it).
#
# Work files go to a temporary folder that is removed at the end. Creating the cluster
# (`apply`, `up`) is not built yet; this script will then run `up --sim`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || { echo "demo: needs a Rust toolchain; scripts/test.sh installs one" >&2; exit 1; }

# Cargo says where it put the binary (CARGO_TARGET_DIR, a build.target-dir setting or
# ./target); its progress goes to stderr so a long first build is visibly alive.
echo "== building talos-hcloud (the first build compiles a few hundred crates: several minutes)" >&2
bin="$(cargo build --locked --bin talos-hcloud --message-format=json-render-diagnostics |
    python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") and message["target"]["name"] == "talos-hcloud":
        print(message["executable"])
')"
[ -x "$bin" ] || { echo "demo: cargo built no talos-hcloud binary" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A copy of the reference cluster, so the local state folder lands in the temp folder.
cp -r cluster.yaml schematics machine-patches "$work/"
config="$work/cluster.yaml"

step() { printf '\n== %s\n' "$*"; }

step "talos-hcloud validate"
"$bin" -c "$config" validate

step "talos-hcloud schematic id schematics/hcloud.yaml"
"$bin" schematic id schematics/hcloud.yaml

step "talos-hcloud sim (Hetzner Cloud API, Image Factory and machines, in the background)"
"$bin" --output json sim --seed 7 --time-scale 100 --image-size $((64 * 1024 * 1024)) > "$work/sim.json" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/sim.json" ] && break; sleep 0.1; done
endpoint="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$work/sim.json")"
token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/sim.json")"
echo "emulator at $endpoint"
# The same variables a real run reads: HCLOUD_ENDPOINT, HCLOUD_TOKEN, TALOS_FACTORY_URL.
eval "$(python3 -c 'import json, shlex, sys
for key, value in json.load(open(sys.argv[1]))["env"].items():
    print(f"export {key}={shlex.quote(value)}")' "$work/sim.json")"

if [ "$(id -u)" -eq 0 ]; then
    step "talos-hcloud image build (temporary server, rescue over SSH, verified write, snapshot)"
    "$bin" -c "$config" image build
    built=yes
else
    step "talos-hcloud image build: skipped (the emulated rescue system listens on port 22: run as root)"
    built=no
fi

step "talos-hcloud image list"
"$bin" -c "$config" image list

step "talos-hcloud secrets gen"
"$bin" -c "$config" secrets gen

step "talos-hcloud plan (what apply would create, priced, with its pre-flight checks)"
"$bin" -c "$config" plan

if [ "$built" = yes ]; then
    step "talos-hcloud doctor"
    "$bin" -c "$config" doctor
fi

# Addresses a real run would read from the live project: the floating IP (the Kubernetes
# API endpoint, a Talos VIP) and the control planes' public IPs (talosconfig endpoints).
vip=127.2.0.10
cp1=127.100.250.11
step "talos-hcloud config gen --endpoint $vip --talos-endpoint $cp1"
HCLOUD_TOKEN="$token" "$bin" -c "$config" config gen --endpoint "$vip" --talos-endpoint "$cp1"
configs="$work/.talos-hcloud/tootcommunity-prod/configs"

step "talos-hcloud sim node --address $cp1 --machine-config cp-1.yaml"
"$bin" sim node --address "$cp1" --talos-version v1.11.6 --machine-config "$configs/cp-1.yaml" > "$work/node.txt" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q 'Ctrl-C stops it' "$work/node.txt" 2>/dev/null && break; sleep 0.1; done
cat "$work/node.txt"

step "talos-hcloud talos version --talosconfig talosconfig --nodes $cp1 (Talos API, mutual TLS)"
"$bin" talos version --talosconfig "$configs/talosconfig" --nodes "$cp1"

printf '\ndemo: all steps passed\n'
