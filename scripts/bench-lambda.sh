#!/usr/bin/env bash
# The Lambda function benchmark the docs quote (docs/performance.md), from a
# fresh clone with nothing outside the repository: builds the function as
# Lambda runs it (release, this machine's arch, no laptop-only `local`
# feature) and the harness (examples/lambda_bench), installs the Python
# peer's venv (awslambdaric + boto3) once, checks the harness against its
# fake functions, then runs s3gate and the peer (bench/peer_python) side by
# side against the embedded S3 store: init, first invoke, warm p50/p99, time
# to first byte, CPU per invoke, peak RSS, correctness, cost per million.
#
#   scripts/bench-lambda.sh [extra lambda_bench args]
#   MODES=buffered,stream SIZES=100k,4m,50m COLD=3 WARM=30 scripts/bench-lambda.sh
#   env: SIZES (100k,4m; add 50m to see large objects: buffered s3gate
#        answers it with a 307 that the harness follows, `307+GET`, and it
#        is over 6 MB for the peer, which fails by design),
#        COLD (5), WARM (50), MEMORY (256),
#        MODES (buffered; a comma list of buffered and stream: one s3gate
#        function per mode, labelled s3gate-<mode> when there are several,
#        s3gate when there is one), STREAM=1 (shorthand for MODES=stream),
#        STREAM_LIMIT (stream mode's S3GATE_STREAM_LIMIT, 200 MiB),
#        PEER=0 (no Python peer), SELF_TEST=0 (skip the harness check),
#        PYTHON (python3), S3GATE_BENCH_VENV ($HOME/.cache/s3gate/bench-venv),
#        CARGO_TARGET_DIR
# Writes results/lambda-<UTC timestamp>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sizes=${SIZES:-100k,4m}
cold=${COLD:-5}
warm=${WARM:-50}
memory=${MEMORY:-256}
if [ "${STREAM:-0}" = 0 ]; then modes=${MODES:-buffered}; else modes=${MODES:-stream}; fi
peer=${PEER:-1}
IFS=, read -r -a mode_list <<< "$modes"
for mode in "${mode_list[@]}"; do
  case $mode in
    buffered | stream) ;;
    *) echo "bench-lambda: MODES: unknown mode '$mode' (buffered, stream)" >&2; exit 2 ;;
  esac
done
venv=${S3GATE_BENCH_VENV:-$HOME/.cache/s3gate/bench-venv}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

echo "== machine"
cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
[ -n "$cpu" ] || cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
echo "arch: $(uname -m); cpu: ${cpu:-unknown}; cores: $(nproc); kernel: $(uname -r); load: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== build: s3gate-lambda (release, --no-default-features) and the harness (minutes on a fresh clone)"
cargo build --release --quiet --no-default-features --bin s3gate-lambda
cargo build --release --quiet --example lambda_bench
bootstrap=$CARGO_TARGET_DIR/release/s3gate-lambda
harness=$CARGO_TARGET_DIR/release/examples/lambda_bench
echo "bootstrap: $(stat -c %s "$bootstrap") bytes ($bootstrap)"

if [ "$peer" != 0 ]; then
  echo "== python peer: venv at $venv"
  python=${PYTHON:-python3}
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  if ! "$venv/bin/python" -c 'import awslambdaric, boto3' 2>/dev/null; then
    if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --prefer-binary awslambdaric boto3; then
      cat >&2 <<'EOF'
bench-lambda: pip could not install awslambdaric and boto3. awslambdaric ships
prebuilt (manylinux) wheels for common Pythons on x86_64 and arm64; without
one for this Python it builds a C++ extension (aws-lambda-cpp, curl) and needs
build tools: apt-get install -y g++ make cmake autoconf automake libtool perl
(or set PYTHON to a Python that has a wheel).
EOF
      exit 2
    fi
  fi
  "$venv/bin/python" -c 'import importlib.metadata as m; print("awslambdaric", m.version("awslambdaric"), "boto3", m.version("boto3"))'
fi

if [ "${SELF_TEST:-1}" != 0 ]; then
  echo "== harness self-test (fake buffered, streaming and redirecting functions)"
  "$harness" --self-test > "$CARGO_TARGET_DIR/lambda-bench-self-test.log" 2>&1 \
    || { cat "$CARGO_TARGET_DIR/lambda-bench-self-test.log" >&2; exit 1; }
  tail -1 "$CARGO_TARGET_DIR/lambda-bench-self-test.log"
fi

mkdir -p results
json=results/lambda-$(date -u +%Y%m%dT%H%M%SZ).json
# The same glibc malloc settings as template.yaml gives the function.
s3gate_env="S3GATE_BUCKET=images MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=67108864"
# Stream mode streams objects up to S3GATE_STREAM_LIMIT (10 MiB by default,
# larger ones get a 307): the benchmark raises it to Lambda's 200 MiB cap so
# that a 50m object is streamed.
stream_env="S3GATE_RESPONSE_MODE=stream S3GATE_STREAM_LIMIT=${STREAM_LIMIT:-209715200}"
# Lambda's Python runtime cannot write bytecode next to the handler either.
python_env="BUCKET=images PYTHONDONTWRITEBYTECODE=1"
functions=()
for mode in "${mode_list[@]}"; do
  label=s3gate
  [ "${#mode_list[@]}" = 1 ] || label=s3gate-$mode
  env=$s3gate_env
  [ "$mode" = buffered ] || env="$env $stream_env"
  functions+=(--function "$label=export $env && exec '$bootstrap'" --binary "$label=$bootstrap")
done
[ "$peer" = 0 ] ||
  functions+=(--function "python=cd '$root/bench/peer_python' && export $python_env && exec '$venv/bin/python' -m awslambdaric handler.handler")
echo "== run: s3gate $modes$([ "$peer" = 0 ] || echo ' and python'), sizes $sizes, $cold cold x $warm warm, $memory MB; load now: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
"$harness" "${functions[@]}" \
  --sizes "$sizes" --cold "$cold" --warm "$warm" --memory "$memory" \
  --json "$json" "$@" || status=$?
echo "results: $json"
exit "$status"
