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
# The machine may be shared, so the rows are interleaved: RUNS rounds, each running every
# row once (hyperfine --runs 1, order rotating per round), and the ratios are the medians
# of the per-round ratios (each round's rows saw about the same load). The Packer recipe
# is slow (~1 min) and runs PACKER_RUNS times (default 1) after the rounds.
#
# Reports those ratios, the load average, the peak RSS of talos-hcloud (GNU time -v)
# and the allocated bytes (stat %b x %B) of what it wrote against the image's non-zero
# bytes. When the binary has `image build`, also one `image build --via local` on the
# emulator: its peak RSS and the allocated bytes of the snapshot it made (the sim's
# state dir). Targets: ratio to the limit <= 1.15, RSS <= 64 MiB, allocated <= 1.05 x
# non-zero.
#
# Not a timed test: run it by hand, ideally on a quiet machine. Needs hyperfine, curl,
# wget, zstd, xz, GNU time, python3. Usage: scripts/bench/image.sh [RUNS] (default 7).
# Builds the release binary first (PROFILE=dev uses the debug build instead;
# TALOS_HCLOUD_BIN=PATH uses that binary as it is). IMAGE_SIZES (MiB, space-separated,
# default "1246") measures several image sizes, one emulator each; the `image build` part
# uses the last.
set -euo pipefail

runs=${1:-7}
sizes=${IMAGE_SIZES:-1246}
packer_runs=${PACKER_RUNS:-1}
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
stop_sim() {
  if [ -n "$sim_pid" ]; then
    kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    sim_pid=
  fi
  return 0
}
cleanup() {
  stop_sim
  rm -rf "$work"
}
trap cleanup EXIT

allocated() { echo $(( $(stat -c '%b' "$1") * $(stat -c '%B' "$1") )); }
rss_kib() { awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$1"; }
# Bytes in 4 KiB blocks of $1 that are not all zeros.
nonzero_bytes() {
  python3 - "$1" <<'PY'
import sys
n = 0
zero = bytes(4096)
with open(sys.argv[1], "rb") as f:
    while True:
        block = f.read(1 << 20)
        if not block:
            break
        for i in range(0, len(block), 4096):
            if block[i:i + 4096] != zero[:len(block[i:i + 4096])]:
                n += 4096
print(n)
PY
}

# Starts the emulator (Hetzner API, Image Factory, machines; fast simulated time) with
# images of $1 MiB and points the environment at it.
start_sim() {
  local state=$work/state-$1
  "$bin" sim --output json --time-scale 1000 --image-size $(($1 * 1024 * 1024)) --state-dir "$state" \
    >"$work/sim.json" 2>"$work/sim.log" &
  sim_pid=$!
  for _ in $(seq 300); do [ -s "$work/sim.json" ] && break; sleep 0.1; done
  [ -s "$work/sim.json" ] || { echo "bench: the emulator did not start:" >&2; cat "$work/sim.log" >&2; exit 1; }
  json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$work/sim.json" "$1"; }
  base=$(json 'd["factory"]')
  export TALOS_FACTORY_URL=$base
  HCLOUD_ENDPOINT=$(json 'd["endpoint"]')
  HCLOUD_TOKEN=$(json 'd["token"]')
  export HCLOUD_ENDPOINT HCLOUD_TOKEN
  schematic=$(curl -sf -X POST --data-binary @"$root/schematics/hcloud.yaml" "$base/schematics" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  url=$base/image/$schematic/$version/hcloud-amd64.raw.zst
  xz_url=$base/image/$schematic/$version/hcloud-amd64.raw.xz
}

version=v1.11.6
out=$work/out.raw
for size in $sizes; do
  start_sim "$size"
  echo "== $size MiB image: building it once (HEAD makes the factory build and cache it)..."
  compressed=$(curl -sfI "$url" | tr -d '\r' | awk 'tolower($1)=="content-length:" {print $2}')
  xz_compressed=$(curl -sfI "$xz_url" | tr -d '\r' | awk 'tolower($1)=="content-length:" {print $2}')
  curl -sf -o "$work/local.raw.zst" "$url"

  names=(limit limit+fsync local-zstd talos-hcloud)
  commands=(
    "curl -s $url | zstd -dc > $out"
    "curl -s $url | zstd -dc > $out && sync $out"
    "zstd -dc < $work/local.raw.zst > $out"
    "$bin factory download $schematic --talos-version $version --arch amd64 --compression zstd -o $out"
  )
  # Warm-up: one of each, not recorded.
  for c in "${commands[@]}"; do rm -f "$out"; bash -c "$c" >/dev/null 2>&1; done
  for round in $(seq "$runs"); do
    args=()
    for i in "${!names[@]}"; do
      j=$(( (i + round) % ${#names[@]} ))
      args+=(-n "${names[$j]}" "${commands[$j]}")
    done
    hyperfine --style none --runs 1 --export-json "$work/round-$size-$round.json" \
      --prepare "rm -f $out; sync" "${args[@]}" >/dev/null
    printf '  round %s/%s done (load %s)\n' "$round" "$runs" "$(cut -d' ' -f1 /proc/loadavg)"
  done
  hyperfine --style none --runs "$packer_runs" --export-json "$work/packer-$size.json" \
    --prepare "rm -f $out $work/packer.raw.xz; sync" \
    -n packer "wget -q -O $work/packer.raw.xz $xz_url && xz -d -c $work/packer.raw.xz | dd of=$out 2>/dev/null" \
    >/dev/null
  rm -f "$out" "$work/packer.raw.xz" "$work/local.raw.zst"

  dl_file=$work/download.raw
  pipe_file=$work/pipeline.raw
  /usr/bin/time -v -o "$work/time-$size.txt" "$bin" factory download "$schematic" --talos-version "$version" \
    --arch amd64 --compression zstd -o "$dl_file" >/dev/null
  curl -s "$url" | zstd -dc >"$pipe_file"
  cmp "$dl_file" "$pipe_file" || { echo "bench: the two outputs differ" >&2; exit 1; }
  rm -f "$pipe_file"
  echo "$size $compressed $xz_compressed $(rss_kib "$work/time-$size.txt") $(allocated "$dl_file") $(nonzero_bytes "$dl_file")" \
    >"$work/facts-$size.txt"
  nonzero=$(cut -d' ' -f6 "$work/facts-$size.txt")
  rm -f "$dl_file"
  [ "$size" = "${sizes##* }" ] || stop_sim
done

# `image build --via local` on the emulator (the last size), when this build has it.
build_rss=0
build_allocated=0
if "$bin" image build --help >/dev/null 2>&1; then
  echo "== image build --via local on the emulator..."
  /usr/bin/time -v -o "$work/build-time.txt" "$bin" image build --schematic "$root/schematics/hcloud.yaml" \
    --talos-version "$version" --arch amd64 --via local --output json >"$work/build.json"
  build_rss=$(rss_kib "$work/build-time.txt")
  snapshot=$(find "$work/state-${sizes##* }" -name '*.disk' -path '*images*' | head -n1)
  [ -n "$snapshot" ] || { echo "bench: image build left no snapshot" >&2; exit 1; }
  build_allocated=$(allocated "$snapshot")
  grep -E 'Maximum resident|Elapsed|Percent of CPU|User time|System time' "$work/build-time.txt" >"$work/build-summary.txt"
else
  echo "($bin has no \`image build\` yet: only the data path is measured)"
fi
stop_sim

python3 - "$work" "$runs" "$profile" "$build_rss" "$build_allocated" "$nonzero" "$sizes" <<'PY'
import glob, json, os, statistics, sys
work, runs, profile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
build_rss, build_alloc, last_nonzero = map(int, sys.argv[4:7])
sizes = sys.argv[7].split()
mib = 1024 * 1024
print()
print(f"{profile} build, {runs} interleaved rounds per size, load average now "
      f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
for size in sizes:
    raw = int(size) * mib
    _, compressed, xz_compressed, rss, alloc, nonzero = map(int, open(f"{work}/facts-{size}.txt").read().split())
    rounds, cpu = [], []
    for path in sorted(glob.glob(f"{work}/round-{size}-*.json")):
        results = json.load(open(path))["results"]
        rounds.append({r["command"]: r["mean"] for r in results})
        cpu.append({r["command"]: r["user"] + r["system"] for r in results})
    packer = [t for r in json.load(open(f"{work}/packer-{size}.json"))["results"] for t in r["times"]]
    med = {name: statistics.median(r[name] for r in rounds) for name in sorted(rounds[0])}
    ratio = lambda a, b: statistics.median(r[a] / r[b] for r in rounds)
    spread = lambda a, b: (min(r[a] / r[b] for r in rounds), max(r[a] / r[b] for r in rounds))
    print(f"\nimage: {raw / mib:.0f} MiB raw ({compressed / mib:.0f} MiB .raw.zst, {xz_compressed / mib:.0f} MiB "
          f".raw.xz), {nonzero / mib:.0f} MiB non-zero ({100 * nonzero / raw:.1f} %)")
    print("medians: " + ", ".join(f"{name} {t:.2f} s" for name, t in med.items())
          + f", packer {statistics.median(packer):.1f} s")
    lo, hi = spread("talos-hcloud", "limit")
    print(f"talos-hcloud / limit (curl | zstd -dc > file): {ratio('talos-hcloud', 'limit'):.2f} "
          f"(rounds {lo:.2f}-{hi:.2f}; target <= 1.15)")
    cpu_ratio = statistics.median(c["talos-hcloud"] / c["limit"] for c in cpu)
    print(f"CPU time (user+sys, the emulator not counted): talos-hcloud "
          f"{statistics.median(c['talos-hcloud'] for c in cpu):.2f} s, limit "
          f"{statistics.median(c['limit'] for c in cpu):.2f} s, ratio {cpu_ratio:.2f}")
    print(f"talos-hcloud / limit+fsync:                    {ratio('talos-hcloud', 'limit+fsync'):.2f}")
    print(f"talos-hcloud / local zstd -dc > file:          {ratio('talos-hcloud', 'local-zstd'):.2f}")
    print(f"packer recipe / talos-hcloud:                  {statistics.median(packer) / med['talos-hcloud']:.1f} "
          "(talos-hcloud is that many times faster)")
    print(f"peak RSS, factory download: {rss / 1024:.1f} MiB (target <= 64)")
    print(f"allocated, factory download: {alloc / mib:.0f} MiB = {alloc / nonzero:.3f} x non-zero (target <= 1.05)")
if build_rss:
    print(f"\npeak RSS, image build --via local: {build_rss / 1024:.1f} MiB (target <= 64)")
    print(f"allocated, snapshot of image build --via local: {build_alloc / mib:.0f} MiB = "
          f"{build_alloc / last_nonzero:.3f} x non-zero (target <= 1.05)")
    print(open(f"{work}/build-summary.txt").read().rstrip())
PY
