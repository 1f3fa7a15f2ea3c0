#!/usr/bin/env bash
# Peak RSS and time of `s3gate put` and `s3gate get` (release build) moving a
# file through `s3gate serve` and its embedded store on loopback.
# Usage: scripts/bench-transfer.sh [MiB=50]
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${1:-50}
port=${PORT:-3998}
key=bench-key-0123456789abcdef
cargo build --release --quiet --bin s3gate
bin=${CARGO_TARGET_DIR:-target}/release/s3gate
work=$(mktemp -d)
trap 'kill -INT "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/data/images"
head -c "$((mib * 1024 * 1024))" /dev/urandom > "$work/src.bin"
"$bin" serve --data "$work/data" --addr "127.0.0.1:$port" --api-key "$key" --allow-write >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
export S3GATE_URL="http://127.0.0.1:$port/dev" S3GATE_API_KEY="$key"
for step in "put bench/src.bin $work/src.bin" "get bench/src.bin -o $work/back.bin"; do
  # shellcheck disable=SC2086
  /usr/bin/time -f "s3gate ${step%% *} ${mib} MiB: %e s, peak RSS %M KiB" "$bin" $step 2>&1 | grep -v '^s3gate: '
done
cmp "$work/src.bin" "$work/back.bin" && echo "round trip: identical"
