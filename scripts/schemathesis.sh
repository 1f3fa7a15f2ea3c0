#!/usr/bin/env bash
# Fuzzes `s3gate serve` against openapi.yaml with schemathesis: every
# operation, positive and negative inputs, checking that no answer is a 5xx,
# that every status, header, content type and body is the one documented,
# that undocumented methods get 405 with `Allow`, and that requests without
# the API key are refused.
#
#   scripts/schemathesis.sh [S3GATE_BINARY]
#
# The binary comes from the argument, else $S3GATE_BIN, else
# target/debug/s3gate. schemathesis comes from $SCHEMATHESIS, else PATH
# (`pip install schemathesis`). $ST_MAX_EXAMPLES (default 50) bounds the
# examples per operation; $ST_SEED fixes the random seed. Exits non-zero
# when a check fails or the server cannot start.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bin=$(realpath -m "${1:-${S3GATE_BIN:-target/debug/s3gate}}")
st=${SCHEMATHESIS:-schemathesis}
[ -x "$bin" ] || { echo "schemathesis.sh: no s3gate binary at $bin (cargo build first)" >&2; exit 2; }
st=$(command -v "$st") || { echo "schemathesis.sh: ${SCHEMATHESIS:-schemathesis} not found (pip install schemathesis)" >&2; exit 2; }

# A fixed key (API Gateway wants at least 20 characters) and a usage plan far
# above what the run sends, so no answer is the usage plan's 429.
key=schemathesis-key-0123456789abcdef
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A private copy of the sample data: writes are on, and nothing may touch the
# checkout's files (redirects are not followed either, see below).
cp -r sample-data "$work/data"
# Ids on, with the secret the sample events use, so the spec's example id
# (events/object-by-id.json's) names a real object; the fuzzing key is an
# admin key, so /id/{key} answers too.
"$bin" serve --addr "127.0.0.1:$port" --data "$work/data" --admin-api-key "$key" \
  --rate-limit 100000 --burst-limit 100000 --quota-limit 100000000 \
  --allow-list --allow-write --id-secret events-id-secret-0123456789abcdef \
  >"$work/serve.log" 2>&1 &
server=$!

for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; echo "schemathesis.sh: s3gate serve exited" >&2; exit 2; }
  sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { cat "$work/serve.log" >&2; echo "schemathesis.sh: port $port never opened" >&2; exit 2; }

# Checks: everything that applies to a spec without links. Left out:
# positive_data_acceptance (a well-formed key of an absent object is a
# correct 404) and the stateful ones (use_after_free,
# ensure_resource_availability, object_level_authorization: no links).
checks=not_a_server_error,status_code_conformance,content_type_conformance
checks+=,response_headers_conformance,response_schema_conformance
checks+=,negative_data_rejection,missing_required_header,unsupported_method
checks+=,allow_header_conformance,ignored_auth

args=(run "$root/openapi.yaml"
  --url "http://127.0.0.1:$port/dev"
  --header "x-api-key: $key"
  --checks "$checks"
  --phases examples,coverage,fuzzing
  --max-examples "${ST_MAX_EXAMPLES:-50}"
  --max-redirects 0
  --request-timeout 10
  --generation-database none
  --no-color)
[ -n "${ST_SEED:-}" ] && args+=(--seed "$ST_SEED")

# Run from the scratch folder: schemathesis keeps a cache of failures in
# ./.schemathesis, which must not land in the checkout.
status=0
(cd "$work" && "$st" --config-file "$root/scripts/schemathesis.toml" "${args[@]}") || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- s3gate serve log (last 40 lines)" >&2
  tail -n 40 "$work/serve.log" >&2
fi
exit "$status"
