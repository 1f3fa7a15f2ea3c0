#!/usr/bin/env bash
# s3gate's image transforms against sharp (libvips), same machine, same inputs,
# one core each (taskset), one process per case and tool. See
# bench/transform/README.md for what is measured and what the numbers mean.
#
#   scripts/bench-transform.sh                   the benchmark: markdown table on
#                                                stdout, all figures in
#                                                results/transform-<UTC>.json
#   scripts/bench-transform.sh --calibrate-avif  s3gate AVIF at several q against
#                                                sharp's avif q50 (bytes, PSNR)
#
# Environment:
#   ITERATIONS=15        timed iterations per process (after one warm-up)
#   ROUNDS=3             processes per case and tool, sharp and s3gate alternating
#                        (the figures are the median over rounds of each process's median)
#   AVIF_Q=80            s3gate's q for the AVIF case (from --calibrate-avif)
#   CASES="jpeg webp png-webp avif"   a subset of the cases
#   CPU=0                the core both sides are pinned to
#   CAL_QS="60 70 75 80 85 90", CAL_ITERATIONS=3   for --calibrate-avif
#   S3GATE_SHARP_DIR     a folder with node_modules/sharp to reuse (default: npm
#                        installs sharp@0.35.5 into a temporary folder, removed after)
#   S3GATE_BENCH_TRANSFORM_DIR   inputs and outputs (default ~/.cache/s3gate/bench-transform)
#   S3GATE_TRANSFORM_BENCH       use this transform_bench binary instead of building one
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
here=$root/bench/transform

die() { echo "bench-transform: $*" >&2; exit 1; }

mode=bench
case "${1:-}" in
  "") ;;
  --calibrate-avif) mode=calibrate ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "bench-transform: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "bench-transform: too many arguments (try --help)" >&2; exit 2; }

sharp_version=0.35.5
iterations=${ITERATIONS:-15}
rounds=${ROUNDS:-3}
avif_q=${AVIF_Q:-80}
cases=${CASES:-jpeg webp png-webp avif}
cpu=${CPU:-0}
cal_qs=${CAL_QS:-60 70 75 80 85 90}
cal_iterations=${CAL_ITERATIONS:-3}
work=${S3GATE_BENCH_TRANSFORM_DIR:-$HOME/.cache/s3gate/bench-transform}

is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
is_count "$iterations" || die "ITERATIONS must be a positive integer, got '$iterations'"
is_count "$rounds" || die "ROUNDS must be a positive integer, got '$rounds'"
is_count "$cal_iterations" || die "CAL_ITERATIONS must be a positive integer, got '$cal_iterations'"
is_count "$avif_q" || die "AVIF_Q must be a positive integer, got '$avif_q'"
for q in $cal_qs; do is_count "$q" || die "CAL_QS must hold positive integers, got '$q'"; done
for c in $cases; do
  case $c in jpeg | webp | png-webp | avif) ;; *) die "unknown case '$c' in CASES (jpeg webp png-webp avif)" ;; esac
done
for tool in node npm taskset cargo; do
  command -v "$tool" >/dev/null || die "'$tool' not found on PATH"
done
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) not found (Debian/Ubuntu: apt-get install time)"
taskset -c "$cpu" true 2>/dev/null || die "cannot pin to CPU $cpu (set CPU=<core>)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- sharp ---------------------------------------------------------------
if [ -n "${S3GATE_SHARP_DIR:-}" ]; then
  sharp_dir=$S3GATE_SHARP_DIR
  [ -d "$sharp_dir/node_modules/sharp" ] || die "S3GATE_SHARP_DIR=$sharp_dir has no node_modules/sharp"
else
  sharp_dir=$tmp/sharp
  echo "bench-transform: installing sharp@$sharp_version into $sharp_dir" >&2
  npm install --prefix "$sharp_dir" --no-save --no-audit --no-fund --loglevel=error "sharp@$sharp_version" >&2 \
    || die "npm install sharp@$sharp_version failed"
fi
export NODE_PATH=$sharp_dir/node_modules
installed=$(node -e 'process.stdout.write(require("sharp").versions.sharp)' 2>"$tmp/sharp.err") \
  || { cat "$tmp/sharp.err" >&2; die "sharp does not load from $NODE_PATH"; }
[ "$installed" = "$sharp_version" ] \
  || echo "bench-transform: warning: sharp $installed in $sharp_dir, the benchmark expects $sharp_version" >&2

# --- inputs (deterministic; regenerated when gen.js or sharp changes) ----
mkdir -p "$work/out"
stamp="$(sha256sum "$here/gen.js" | cut -c1-64) sharp-$installed"
if [ ! -s "$work/src12mp.jpg" ] || [ ! -s "$work/src2mp.png" ] || [ "$(cat "$work/inputs.stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "bench-transform: generating inputs in $work" >&2
  rm -f "$work/inputs.stamp"
  node "$here/gen.js" "$work" || die "input generation failed"
  echo "$stamp" >"$work/inputs.stamp"
fi

# --- s3gate's side -------------------------------------------------------
if [ -n "${S3GATE_TRANSFORM_BENCH:-}" ]; then
  bin=$S3GATE_TRANSFORM_BENCH
else
  [ -f examples/transform_bench.rs ] || die "examples/transform_bench.rs does not exist yet"
  # rav1e's x86-64 assembly (as deployed) is behind a feature that needs nasm; arm64 always has it.
  features=()
  if [ "$(uname -m)" = x86_64 ]; then
    command -v nasm >/dev/null \
      || die "nasm (>= 2.15) is needed to build the avif-x86-asm feature (Debian/Ubuntu: apt-get install nasm)"
    features=(--features avif-x86-asm)
  fi
  echo "bench-transform: cargo build --release --example transform_bench ${features[*]}" >&2
  cargo build --release --quiet --example transform_bench "${features[@]}" \
    || die "cargo build --release --example transform_bench ${features[*]} failed"
  bin=${CARGO_TARGET_DIR:-$root/target}/release/examples/transform_bench
fi
[ -x "$bin" ] || die "no executable transform_bench at $bin"

# --- running -------------------------------------------------------------
runs=$tmp/runs.jsonl
: >"$runs"
json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2"; }

# run <case> <tool> <q|null> <spec> <input> <output> <command...>
# One process, pinned, under GNU time for the peak RSS; appends a line to $runs.
# Uses $round.
run() {
  local kase=$1 tool=$2 q=$3 spec=$4 input=$5 output=$6
  shift 6
  local log=$work/out/$kase.$tool
  [ "$q" = null ] || log=$log.q$q
  log=$log.r$round
  rm -f "$output" "$log.rss"
  if ! taskset -c "$cpu" /usr/bin/time -f %M -o "$log.rss" "$@" >"$log.stdout" 2>"$log.stderr"; then
    cat "$log.stderr" "$log.stdout" >&2
    die "$tool $kase failed: $*"
  fi
  local line rss
  line=$(grep '^{' "$log.stdout" | tail -n1 || true)
  [ -n "$line" ] || { cat "$log.stdout" "$log.stderr" >&2; die "$tool $kase printed no JSON line: $*"; }
  [ -s "$output" ] || die "$tool $kase wrote no output to $output"
  rss=$(tail -n1 "$log.rss")
  is_count "$rss" || die "no peak RSS from /usr/bin/time for $tool $kase (got '$rss')"
 printf '{"case":%s,"tool":%s,"q":%s,"round":%s,"spec":%s,"input":%s,"output":%s,"rss_kb":%s,"result":%s}\n' \
    "$(json_str "$kase")" "$(json_str "$tool")" "$q" "$round" "$(json_str "$spec")" "$(json_str "$input")" \
    "$(json_str "$output")" "$rss" "$line" >>"$runs"
  printf 'bench-transform: round %s %-8s %-6s %-4s CPU %7.1f ms median, wall %7.1f ms, peak RSS %6.1f MB, %s B\n' \
    "$round" "$kase" "$tool" "$([ "$q" = null ] || echo "q$q")" "$(field cpu_ms_median "$line")" \
    "$(field wall_ms_median "$line")" "$(awk "BEGIN{print $rss/1024}")" "$(field bytes "$line")" >&2
}

input_of() { case $1 in png-webp) echo "$work/src2mp.png" ;; *) echo "$work/src12mp.jpg" ;; esac; }
ext_of() { case $1 in jpeg) echo jpg ;; webp | png-webp) echo webp ;; avif) echo avif ;; esac; }
sharp_spec() {
  case $1 in
    jpeg) echo 'resize({width:800}).jpeg({quality:80})' ;;
    webp) echo 'resize({width:800}).webp({quality:80})' ;;
    png-webp) echo 'resize({width:400}).webp({quality:80})' ;;
    avif) echo 'resize({width:800}).avif({quality:50})' ;;
  esac
}
s3gate_query() { # <case> [avif q]
  case $1 in
    jpeg) echo 'w=800&format=jpeg&q=80' ;;
    webp) echo 'w=800&format=webp&q=80' ;;
    png-webp) echo 'w=400&format=webp&q=80' ;;
    avif) echo "w=800&format=avif&q=$2" ;;
  esac
}
run_sharp() { # <case> <iterations>
  local in out
  in=$(input_of "$1")
  out=$work/out/$1.sharp.$(ext_of "$1")
  run "$1" sharp null "$(sharp_spec "$1")" "$in" "$out" node "$here/sharp-bench.js" "$1" "$in" "$2" "$out"
}
run_s3gate() { # <case> <iterations> [avif q]
  local in out query q=null
  in=$(input_of "$1")
  [ "$1" != avif ] || q=$3
  out=$work/out/$1.s3gate$([ "$q" = null ] || echo ".q$q").$(ext_of "$1")
  query=$(s3gate_query "$1" "$q")
  # glibc's malloc settings that template.yaml gives the function (as
  # scripts/bench-lambda.sh does): multi-MB buffers reused from the heap
  # instead of fresh mappings faulted in on every transform.
  run "$1" s3gate "$q" "$query" "$in" "$out" env MALLOC_MMAP_THRESHOLD_=33554432 \
    MALLOC_TRIM_THRESHOLD_=67108864 "$bin" "$in" "$query" "$2" "$out"
}

loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$mode" = bench ]; then
  echo "bench-transform: $rounds rounds of $iterations iterations per case and tool, pinned to CPU $cpu" >&2
  for c in $cases; do
    for round in $(seq "$rounds"); do
      if [ $((round % 2)) = 1 ]; then
        run_sharp "$c" "$iterations"
        run_s3gate "$c" "$iterations" "$avif_q"
      else
        run_s3gate "$c" "$iterations" "$avif_q"
        run_sharp "$c" "$iterations"
      fi
    done
  done
else
  iterations=$cal_iterations rounds=1 round=1
  echo "bench-transform: AVIF calibration, q in {$cal_qs}, $iterations iterations each, pinned to CPU $cpu" >&2
  run_sharp avif "$iterations"
  for q in $cal_qs; do run_s3gate avif "$iterations" "$q"; done
fi
loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- quality (one reference per source and output size) ------------------
quality=$tmp/quality.jsonl
: >"$quality"
for src in "$work/src12mp.jpg" "$work/src2mp.png"; do
  mapfile -t outs < <(node -e '
    const outs = new Set();
    for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n"))
      if (l.trim()) { const r = JSON.parse(l); if (r.input === process.argv[2]) outs.add(r.output); }
    for (const o of outs) console.log(o);' "$runs" "$src")
  [ ${#outs[@]} -eq 0 ] || node "$here/quality.js" "$src" "${outs[@]}" >>"$quality" || die "quality.js failed for $src"
done

# --- report ----------------------------------------------------------------
taskset -c "$cpu" /usr/bin/time -f %M -o "$tmp/node.rss" node -e 'require("sharp")' \
  || die "node -e 'require(\"sharp\")' failed"
stamp_utc=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$root/results"
if [ "$mode" = bench ]; then
  results=$root/results/transform-$stamp_utc.json
else
  results=$root/results/transform-avif-calibration-$stamp_utc.json
fi
git_rev=$(git rev-parse HEAD 2>/dev/null || echo unknown)
git_dirty=$([ -z "$(git status --porcelain 2>/dev/null)" ] && echo false || echo true)
META_DATE=$stamp_utc META_ITER=$iterations META_ROUNDS=$rounds META_CPU=$cpu META_AVIF_Q=$avif_q META_GIT=$git_rev \
  META_DIRTY=$git_dirty META_LOAD0=$loadavg_start META_LOAD1=$loadavg_end META_BIN=$bin \
  META_RUSTC=$(rustc -V 2>/dev/null || echo unknown) META_NODE_RSS=$(tail -n1 "$tmp/node.rss") \
  META_WORK=$work node -e '
    const fs = require("fs"), os = require("os"), path = require("path"), sharp = require("sharp"), e = process.env;
    const model = (fs.readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/) || [])[1] || "unknown";
    const inputs = {};
    (async () => {
      for (const f of ["src12mp.jpg", "src2mp.png"]) {
        const p = path.join(e.META_WORK, f), m = await sharp(p).metadata();
        inputs[f] = { path: p, bytes: fs.statSync(p).size, width: m.width, height: m.height, channels: m.channels, format: m.format };
      }
      console.log(JSON.stringify({
        date_utc: e.META_DATE, iterations: +e.META_ITER, rounds: +e.META_ROUNDS, pinned_cpu: +e.META_CPU, avif_q: +e.META_AVIF_Q,
        git_rev: e.META_GIT, git_dirty: e.META_DIRTY === "true", transform_bench: e.META_BIN,
        host: { cpu_model: model, nproc: os.cpus().length, kernel: os.release(), loadavg_start: e.META_LOAD0, loadavg_end: e.META_LOAD1 },
        versions: { node: process.version, rustc: e.META_RUSTC, sharp: sharp.versions },
        node_sharp_baseline_rss_kb: +e.META_NODE_RSS, inputs,
      }));
    })().catch((err) => { console.error(err); process.exit(1); });' >"$tmp/meta.json" || die "collecting run metadata failed"
node "$here/report.js" "$mode" "$runs" "$quality" "$tmp/meta.json" "$results" || die "report.js failed"
echo
echo "Figures: ${results#"$root"/}; outputs in $work/out"
