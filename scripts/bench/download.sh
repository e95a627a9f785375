#!/usr/bin/env bash
# Benchmark of the local image data path (issue 10, "The local data path is slow today"):
# `talos-hcloud factory download` against the plain pipeline `curl -s URL | zstd -dc > FILE`,
# both fetching the emulated Image Factory's default synthetic image (1246 MiB raw, ~25 %
# non-zero) over loopback, in the same run.
#
# talos-hcloud also hashes both streams and fsyncs the file before renaming it into place,
# so the run includes `pipeline+fsync` (the pipeline followed by `sync FILE`) as well.
#
# Reports: the time ratio (hyperfine medians), the peak RSS of talos-hcloud (GNU time -v),
# and the allocated bytes of the written file (stat %b × %B) against the image's non-zero
# bytes. Targets: ratio ≤ 1.15, RSS ≤ 64 MiB, allocated ≤ 1.05 × non-zero.
#
# Not a timed test: run it by hand on a quiet machine. Needs hyperfine, curl, zstd, GNU time.
# Usage: scripts/bench/download.sh [RUNS] (default 5). Builds release binaries first
# (PROFILE=dev uses the debug build: dependencies are optimised there too, and the data
# path's hot loops are in them). Set IMAGE_SIZE (bytes) for a smaller image.
set -euo pipefail

runs=${1:-5}
image_size=${IMAGE_SIZE:-$((1246 * 1024 * 1024))}
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
for tool in hyperfine curl zstd /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 2; }
done

profile=${PROFILE:-release}
dir=$profile
[ "$profile" = dev ] && dir=debug
(cd "$root" && cargo build --profile "$profile" --quiet --bin talos-hcloud --example factory_serve)
bin=$target/$dir/talos-hcloud
serve=$target/$dir/examples/factory_serve

work=$(mktemp -d "${TMPDIR:-/tmp}/talos-hcloud-bench.XXXXXX")
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$serve" "$image_size" "$work/cache" >"$work/url" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
base=$(head -n1 "$work/url")
[ -n "$base" ] || { echo "bench: the emulated factory did not start" >&2; exit 1; }

export TALOS_FACTORY_URL=$base
schematic=$(curl -sf -X POST --data-binary @"$root/schematics/hcloud.yaml" "$base/schematics" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
version=v1.11.6
url=$base/image/$schematic/$version/hcloud-amd64.raw.zst
echo "building the image once (HEAD pre-warms the factory's cache)..."
compressed=$(curl -sfI "$url" | tr -d '\r' | awk 'tolower($1)=="content-length:" {print $2}')

dl_file=$work/download.raw
pipe_file=$work/pipeline.raw
hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$work/hyperfine.json" \
  --prepare "rm -f $dl_file $pipe_file" \
  -n pipeline "curl -s $url | zstd -dc > $pipe_file" \
  -n pipeline+fsync "curl -s $url | zstd -dc > $pipe_file && sync $pipe_file" \
  -n talos-hcloud "$bin factory download $schematic --talos-version $version --arch amd64 --compression zstd -o $dl_file"

rm -f "$dl_file"
/usr/bin/time -v -o "$work/time.txt" "$bin" factory download "$schematic" --talos-version "$version" \
  --arch amd64 --compression zstd -o "$dl_file" >/dev/null
curl -s "$url" | zstd -dc >"$pipe_file"
cmp "$dl_file" "$pipe_file" || { echo "bench: the two outputs differ" >&2; exit 1; }

rss_kib=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/time.txt")
allocated=$(( $(stat -c '%b' "$dl_file") * $(stat -c '%B' "$dl_file") ))
pipe_allocated=$(( $(stat -c '%b' "$pipe_file") * $(stat -c '%B' "$pipe_file") ))
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
python3 - "$work/hyperfine.json" "$rss_kib" "$allocated" "$pipe_allocated" "$nonzero" "$image_size" "$compressed" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
med = {r["command"]: r["median"] for r in data["results"]}
rss, alloc, pipe_alloc, nonzero, raw, compressed = map(int, sys.argv[2:])
ratio = med["talos-hcloud"] / med["pipeline"]
mib = 1024 * 1024
print()
print(f"image: {raw / mib:.0f} MiB raw, {compressed / mib:.0f} MiB .raw.zst, {nonzero / mib:.0f} MiB non-zero ({100 * nonzero / raw:.1f} %)")
print(f"time (median of runs): pipeline {med['pipeline']:.2f} s, talos-hcloud {med['talos-hcloud']:.2f} s -> ratio {ratio:.2f} (target <= 1.15)")
synced = med["talos-hcloud"] / med["pipeline+fsync"]
print(f"  talos-hcloud fsyncs the file before renaming it; against pipeline+fsync ({med['pipeline+fsync']:.2f} s): ratio {synced:.2f}")
print(f"peak RSS of talos-hcloud: {rss / 1024:.1f} MiB (target <= 64)")
print(f"allocated: talos-hcloud {alloc / mib:.0f} MiB = {alloc / nonzero:.3f} x non-zero (target <= 1.05); pipeline {pipe_alloc / mib:.0f} MiB")
PY
