#!/usr/bin/env bash
# Builds the function as Lambda runs it (release, this machine's arch) and
# runs the shared harness (../shared/bench) against it and the Python peer:
# init, first and warm latency, CPU per invoke, peak RSS, for a 100 KiB and
# a 4 MiB object. The harness folder is read-only, so it is copied to a
# cache folder first; its setup.sh installs its venv and s3s-fs there once.
#   scripts/bench-lambda.sh [extra bench.py args]      (env: COLD, WARM, SIZES)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
src=${S3GATE_BENCH_SRC:-$root/../shared/bench}
work=${S3GATE_BENCH_DIR:-$HOME/.cache/s3gate/bench}
[ -f "$src/bench.py" ] || { echo "bench-lambda: no harness at $src" >&2; exit 2; }
mkdir -p "$work"
# Refresh the harness files, keep its installed .venv/.bin/data.
(cd "$src" && tar cf - --exclude=.venv --exclude=.bin --exclude=data --exclude=results .) | (cd "$work" && tar xf -)
chmod -R u+w "$work"
(cd "$work" && ./setup.sh)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cargo build --release --quiet --no-default-features --bin s3gate-lambda
bootstrap=$CARGO_TARGET_DIR/release/s3gate-lambda
ls -l "$bootstrap"
cd "$work"
# The same glibc malloc settings as template.yaml gives the function.
malloc="MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=67108864"
A_LABEL=s3gate A_CMD="S3GATE_BUCKET=images $malloc $bootstrap" RUST_BOOTSTRAP=$bootstrap ./compare.sh "$@"
