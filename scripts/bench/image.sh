#!/usr/bin/env bash
# Benchmark of the image data path (issue 10, "Benchmark"): on the emulator's default
# synthetic image (1246 MiB raw, ~25 % non-zero), in one run, over loopback:
#
#   talos-hcloud   `talos-hcloud factory download -o FILE`: the image-build data path
#                  (factory -> zstd decompress -> sparse file, both streams hashed, fsync)
#   limit          the plain pipeline `curl -s URL | zstd -dc > FILE`
#   limit+fsync    the same followed by `sync FILE` (talos-hcloud fsyncs before its rename)
#   local-zstd     `zstd -dc < LOCAL.zst > FILE`, the compressed image already on disk
#   packer         the Packer recipe: `wget -O TMP URL.xz`, then `xz -d -c TMP | dd of=FILE`
#                  (dd's default 512-byte blocks)
#
# Reports time ratios of the hyperfine medians, the peak RSS of talos-hcloud (GNU time -v)
# and the allocated bytes (stat %b x %B) of what it wrote against the image's non-zero
# bytes. When the binary has `image build`, also one `image build --via local` on the
# emulator: its peak RSS and the allocated bytes of the snapshot it made (the sim's
# state dir). Targets: ratio to the limit <= 1.15, RSS <= 64 MiB, allocated <= 1.05 x
# non-zero.
#
# Not a timed test: run it by hand, ideally on a quiet machine. Needs hyperfine, curl,
# wget, zstd, xz, GNU time, python3. Usage: scripts/bench/image.sh [RUNS] (default 5).
# Builds the release binary first (PROFILE=dev uses the debug build instead;
# TALOS_HCLOUD_BIN=PATH uses that binary as it is). IMAGE_SIZE (bytes, a multiple of 4096)
# sets a smaller image.
set -euo pipefail

runs=${1:-5}
image_size=${IMAGE_SIZE:-$((1246 * 1024 * 1024))}
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
for tool in hyperfine curl wget zstd xz dd /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 2; }
done

profile=${PROFILE:-release}
dir=$profile
[ "$profile" = dev ] && dir=debug
if [ -n "${TALOS_HCLOUD_BIN:-}" ]; then
  bin=$TALOS_HCLOUD_BIN
  profile="given ($bin)"
else
  (cd "$root" && cargo build --profile "$profile" --quiet --bin talos-hcloud)
  bin=$target/$dir/talos-hcloud
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/talos-hcloud-bench.XXXXXX")
sim_pid=
cleanup() {
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The emulator: Hetzner API, Image Factory and machines; fast simulated time for builds.
"$bin" sim --output json --time-scale 1000 --image-size "$image_size" --state-dir "$work/state" \
  >"$work/sim.json" 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 300); do [ -s "$work/sim.json" ] && break; sleep 0.1; done
[ -s "$work/sim.json" ] || { echo "bench: the emulator did not start:" >&2; cat "$work/sim.log" >&2; exit 1; }
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$work/sim.json" "$1"; }
base=$(json 'd["factory"]')
export TALOS_FACTORY_URL=$base
export HCLOUD_ENDPOINT=$(json 'd["endpoint"]')
export HCLOUD_TOKEN=$(json 'd["token"]')

schematic=$(curl -sf -X POST --data-binary @"$root/schematics/hcloud.yaml" "$base/schematics" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
version=v1.11.6
url=$base/image/$schematic/$version/hcloud-amd64.raw.zst
xz_url=$base/image/$schematic/$version/hcloud-amd64.raw.xz
echo "building the images once (HEAD makes the factory build and cache them)..."
compressed=$(curl -sfI "$url" | tr -d '\r' | awk 'tolower($1)=="content-length:" {print $2}')
xz_compressed=$(curl -sfI "$xz_url" | tr -d '\r' | awk 'tolower($1)=="content-length:" {print $2}')
curl -sf -o "$work/local.raw.zst" "$url"

out=$work/out.raw
hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$work/hyperfine.json" \
  --prepare "rm -f $out $work/packer.raw.xz; sync" \
  -n limit "curl -s $url | zstd -dc > $out" \
  -n limit+fsync "curl -s $url | zstd -dc > $out && sync $out" \
  -n local-zstd "zstd -dc < $work/local.raw.zst > $out" \
  -n talos-hcloud "$bin factory download $schematic --talos-version $version --arch amd64 --compression zstd -o $out" \
  -n packer "wget -q -O $work/packer.raw.xz $xz_url && xz -d -c $work/packer.raw.xz | dd of=$out 2>/dev/null"

dl_file=$work/download.raw
pipe_file=$work/pipeline.raw
/usr/bin/time -v -o "$work/time.txt" "$bin" factory download "$schematic" --talos-version "$version" \
  --arch amd64 --compression zstd -o "$dl_file" >/dev/null
curl -s "$url" | zstd -dc >"$pipe_file"
cmp "$dl_file" "$pipe_file" || { echo "bench: the two outputs differ" >&2; exit 1; }
rm -f "$pipe_file" "$out" "$work/packer.raw.xz"

allocated() { echo $(( $(stat -c '%b' "$1") * $(stat -c '%B' "$1") )); }
rss_kib() { awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$1"; }
dl_rss=$(rss_kib "$work/time.txt")
dl_allocated=$(allocated "$dl_file")
nonzero=$(python3 - "$dl_file" <<'PY'
import sys
n = 0
with open(sys.argv[1], "rb") as f:
    while True:
        block = f.read(1 << 20)
        if not block:
            break
        for i in range(0, len(block), 4096):
            if block[i:i + 4096].count(0) != len(block[i:i + 4096]):
                n += 4096
print(n)
PY
)
rm -f "$dl_file"

# `image build --via local` on the emulator, when this build has it.
build_rss=0
build_allocated=0
if "$bin" image build --help >/dev/null 2>&1; then
  echo "image build --via local on the emulator..."
  /usr/bin/time -v -o "$work/build-time.txt" "$bin" image build --schematic "$root/schematics/hcloud.yaml" \
    --talos-version "$version" --arch amd64 --via local --output json >"$work/build.json"
  build_rss=$(rss_kib "$work/build-time.txt")
  snapshot=$(find "$work/state" -name '*.disk' -path '*images*' | head -n1)
  [ -n "$snapshot" ] || { echo "bench: image build left no snapshot in $work/state" >&2; exit 1; }
  build_allocated=$(allocated "$snapshot")
else
  echo "($bin has no \`image build\` yet: only the data path is measured)"
fi

python3 - "$work/hyperfine.json" "$dl_rss" "$dl_allocated" "$nonzero" "$image_size" "$compressed" \
  "$xz_compressed" "$build_rss" "$build_allocated" "$runs" "$profile" <<'PY'
import json, os, sys
data = json.load(open(sys.argv[1]))
med = {r["command"]: r["median"] for r in data["results"]}
rss, alloc, nonzero, raw, compressed, xz_compressed, build_rss, build_alloc, runs = map(int, sys.argv[2:11])
profile = sys.argv[11]
mib = 1024 * 1024
ours = med["talos-hcloud"]
print()
print(f"{profile} build, {runs} runs each, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
print(f"image: {raw / mib:.0f} MiB raw ({compressed / mib:.0f} MiB .raw.zst, {xz_compressed / mib:.0f} MiB .raw.xz), "
      f"{nonzero / mib:.0f} MiB non-zero ({100 * nonzero / raw:.1f} %)")
print("medians: " + ", ".join(f"{name} {t:.2f} s" for name, t in med.items()))
print(f"talos-hcloud / limit (curl | zstd -dc > file): {ours / med['limit']:.2f} (target <= 1.15)")
print(f"talos-hcloud / limit+fsync:                    {ours / med['limit+fsync']:.2f}")
print(f"talos-hcloud / local zstd -dc > file:          {ours / med['local-zstd']:.2f}")
print(f"packer recipe / talos-hcloud:                  {med['packer'] / ours:.2f} (talos-hcloud is that many times faster)")
print(f"peak RSS, factory download: {rss / 1024:.1f} MiB (target <= 64)")
print(f"allocated, factory download: {alloc / mib:.0f} MiB = {alloc / nonzero:.3f} x non-zero (target <= 1.05)")
if build_rss:
    print(f"peak RSS, image build --via local: {build_rss / 1024:.1f} MiB (target <= 64)")
    print(f"allocated, snapshot of image build --via local: {build_alloc / mib:.0f} MiB = "
          f"{build_alloc / nonzero:.3f} x non-zero (target <= 1.05)")
PY
