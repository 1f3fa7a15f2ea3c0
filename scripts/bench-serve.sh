#!/usr/bin/env bash
# Requests per second and peak RSS of `s3gate serve` (release build, embedded
# store) for a 100 KiB object under N concurrent clients. Loopback only,
# bounded in time. Usage: scripts/bench-serve.sh [CLIENTS=8] [SECONDS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-8}
seconds=${2:-10}
port=${PORT:-3999}
key=bench-key-0123456789abcdef
cargo build --release --quiet --bin s3gate --example load
target=${CARGO_TARGET_DIR:-target}
data=$(mktemp -d)
trap 'kill -INT "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
mkdir -p "$data/images"
# 100 KiB of deterministic, incompressible-looking bytes.
python3 -c 'import random,sys; r=random.Random(42); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(102400)))' \
  > "$data/images/bench-100k.jpg"
"$target/release/s3gate" serve --data "$data" --addr "127.0.0.1:$port" --api-key "$key" \
  --rate-limit 1000000 --burst-limit 1000000 --quota-limit 1000000000 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done
"$target/release/examples/load" "http://127.0.0.1:$port/dev/bench-100k.jpg" "$key" "$clients" "$seconds"
grep -E 'VmHWM|VmRSS' "/proc/$pid/status" | tr -s ' ' | sed 's/^/s3gate serve /'
