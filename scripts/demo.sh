#!/usr/bin/env bash
# The main job, rehearsed offline on the built-in simulator, for the reference cluster in
# ./cluster.yaml: no Hetzner account and no network.
#
#   scripts/demo.sh            (as root: the emulated rescue system listens on port 22)
#
# The first run builds talos-hcloud (several minutes); CARGO_TARGET_DIR is honoured.
#
# 1. validate cluster.yaml (schematic ID computed offline, every rule checked);
# 2. start the emulator (Hetzner Cloud API, Image Factory, machines) at 100x time with small
#    images, and point HCLOUD_ENDPOINT/HCLOUD_TOKEN/TALOS_FACTORY_URL at it — every
#    following command is the one a real run types;
# 3. `doctor` and the priced `plan` of the empty project;
# 4. `up`: builds the Talos snapshot as on Hetzner (temporary server in rescue over SSH,
#    image written and verified, snapshot, cleanup), then applies the reference cluster
#    from nothing: network, firewalls, placement groups, primary IPs, floating IP, load
#    balancer, 3 control planes + 3 workers, configs delivered, etcd bootstrapped once,
#    health through the floating IP, kubeconfig and talosconfig written (0600);
# 5. `status` (every node's Talos version, config hash, etcd role; quorum; endpoint);
# 6. `plan` again: nothing to change; the Kubernetes API's /readyz through the floating
#    IP with the written kubeconfig; `talos version` over mutual TLS with the talosconfig;
# 7. `destroy --yes --disable-protection`: nothing labelled with the cluster is left (snapshot and secrets kept).
#
# Work files go to a temporary folder, removed at the end (DEMO_KEEP=1 keeps it). To keep
# the emulated cluster up and try kubectl/talosctl against it: talos-hcloud up --sim --serve
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
    if [ "${DEMO_KEEP:-0}" = 1 ]; then echo "demo: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# A copy of the reference cluster, so the local state folder lands in the temp folder.
cp -r cluster.yaml schematics machine-patches "$work/"
config="$work/cluster.yaml"

step() { printf '\n== %s\n' "$*"; }

step "talos-hcloud validate"
"$bin" -c "$config" validate

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

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: the emulated rescue system (image build) listens on port 22 of 127.x: run as root" >&2
    exit 1
fi

step "talos-hcloud doctor (read-only: token, rate limit, server types, factory)"
"$bin" -c "$config" doctor || true

step "talos-hcloud plan (everything to create, priced, with its pre-flight checks)"
"$bin" -c "$config" plan || true

step "talos-hcloud up (image build where the snapshot is missing, then apply)"
"$bin" -c "$config" up

step "talos-hcloud status"
"$bin" -c "$config" status

step "talos-hcloud plan --detailed-exitcode (0: nothing to change)"
"$bin" -c "$config" plan --detailed-exitcode

files="$work/.talos-hcloud/tootcommunity-prod"
step "the Kubernetes API through the floating IP, with the written kubeconfig"
server="$(sed -n 's/^ *server: //p' "$files/kubeconfig" | head -1 | tr -d '"')"
# The kubeconfig is plain YAML; PyYAML reads it where installed (status checked /readyz too).
if python3 -c 'import yaml' 2>/dev/null; then
    python3 - "$files/kubeconfig" "$work" <<'PY'
import base64, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
for name, data in (("ca", cluster["certificate-authority-data"]),
                   ("crt", user["client-certificate-data"]), ("key", user["client-key-data"])):
    open(f"{sys.argv[2]}/{name}.pem", "wb").write(base64.b64decode(data))
PY
    echo "GET $server/readyz"
    curl --silent --show-error --fail --cacert "$work/ca.pem" --cert "$work/crt.pem" --key "$work/key.pem" \
        "$server/readyz"
    echo
else
    echo "(python3-yaml not installed: skipped; status above checked /readyz through this kubeconfig)"
fi

step "talos-hcloud talos version --talosconfig talosconfig (Talos API, mutual TLS)"
cp1="$(sed -n '/endpoints:/,/nodes:/p' "$files/talosconfig" | sed -n 's/^ *- //p' | head -1)"
"$bin" talos version --talosconfig "$files/talosconfig" --nodes "$cp1"

step "talos-hcloud destroy --yes --disable-protection (control planes are protected; snapshots and secrets are kept)"
"$bin" -c "$config" destroy --yes --disable-protection
"$bin" -c "$config" image list

printf '\ndemo: all steps passed; the files were in %s\n' "$files"
