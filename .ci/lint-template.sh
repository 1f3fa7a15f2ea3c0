#!/usr/bin/env bash
# Lints template.yaml offline with cfn-lint and `sam validate --lint`.
# Usage: .ci/lint-template.sh [VENV_BIN_DIR]   (default: .ci/.venv/bin)
# Set up the venv once with:
#   python3 -m venv .ci/.venv && .ci/.venv/bin/pip install cfn-lint aws-sam-cli
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/.ci/.venv/bin}"
[[ "$bin" == /* ]] || bin="$PWD/$bin"   # relative to the caller's directory
cd "$root"
template=template.yaml

for tool in cfn-lint sam; do
  if [[ ! -x "$bin/$tool" ]]; then
    echo "lint-template: $bin/$tool not found; create the venv with:" >&2
    echo "  python3 -m venv .ci/.venv && .ci/.venv/bin/pip install cfn-lint aws-sam-cli" >&2
    exit 2
  fi
done

# No AWS account or network needed: a region and dummy credentials keep the
# tools from looking for real ones; no telemetry; no prompts (stdin closed).
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=lint-template-dummy
export AWS_SECRET_ACCESS_KEY=lint-template-dummy
unset AWS_SESSION_TOKEN AWS_PROFILE
export SAM_CLI_TELEMETRY=0

# API Gateway needs "/" escaped as "~1" in BinaryMediaTypes; a literal "*/*"
# passes both linters but breaks binary responses. Print the value of every
# BinaryMediaTypes key (same line, or the list items below it).
media_types=$(awk '
  /^[[:space:]]*#/ { next }
  in_block && NF && match($0, /^[[:space:]]*/) &&
    (RLENGTH > indent || (RLENGTH == indent && $1 ~ /^-/)) { print; next }
  { in_block = 0 }
  /^[[:space:]]*BinaryMediaTypes:/ {
    match($0, /^[[:space:]]*/); indent = RLENGTH; in_block = 1
    sub(/^[[:space:]]*BinaryMediaTypes:/, ""); print
  }
' "$template")
if [[ "$media_types" == *'*/*'* ]]; then
  echo "lint-template: BinaryMediaTypes in $template contains '*/*'; use '*~1*'" >&2
  exit 1
fi
if [[ "$media_types" != *'*~1*'* ]]; then
  echo "lint-template: BinaryMediaTypes in $template lacks '*~1*'" >&2
  exit 1
fi

echo "+ cfn-lint $template"
"$bin/cfn-lint" "$template" </dev/null

echo "+ sam validate --lint --template $template"
"$bin/sam" validate --lint --template "$template" </dev/null
