#!/usr/bin/env bash
# The test command: installs what the tests need, then checks formatting, lints and runs every
# test in the workspace. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

pip_install() {
  # Debian's system Python refuses global installs (PEP 668); fall back to allowing it there.
  python3 -m pip install --quiet --disable-pip-version-check "$@" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}

log "installing test tools"
command -v python3 >/dev/null || { echo "python3 is required (signature cross-check, moto)" >&2; exit 1; }
# oauthlib: an independent OAuth 1.0a implementation that verifies billsync's signatures.
python3 -c 'import oauthlib' 2>/dev/null || pip_install 'oauthlib>=3.2'
# PyJWT with cryptography: an independent JWT verifier for billsync's OAuth 2.0 assertions.
python3 -c 'import jwt, cryptography' 2>/dev/null || pip_install 'pyjwt>=2.8' 'cryptography>=42'
# moto: a local AWS API (DynamoDB, SQS, Secrets Manager) the AWS adapter tests talk to.
python3 -c 'import moto.server, flask, flask_cors' 2>/dev/null || pip_install 'moto[server]>=5'
# waitress: the throughput benchmark serves moto over persistent HTTP/1.1 connections, as AWS
# does (tests/bench/moto_server.py).
python3 -c 'import waitress' 2>/dev/null || pip_install 'waitress>=3'
# cfn-lint: validates template.yaml and lets infra/check_policies.py read it.
command -v cfn-lint >/dev/null 2>&1 || pip_install 'cfn-lint>=1'
# The SAM translator: infra/check_policies.py checks the roles as CloudFormation deploys them.
python3 -c 'import samtranslator' 2>/dev/null || pip_install 'aws-sam-translator>=1.100'
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# A full build from scratch: incremental caches would double the debug target's size on disk
# for nothing (a CI machine's disk is small). Set CARGO_INCREMENTAL=1 to keep them.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
disk() { df -hP . 2>/dev/null | awk 'NR == 2 { print "disk: " $4 " free" }' || true; }
disk

log "starting moto on loopback"
moto_port=$(python3 -c \
  'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_log=$(mktemp)
# moto with the atomicity DynamoDB and SQS guarantee (conditional writes, receives): see there.
python3 scripts/moto_atomic.py -H 127.0.0.1 -p "$moto_port" >"$moto_log" 2>&1 &
moto_pid=$!
stop_moto() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$moto_log"
}
trap stop_moto EXIT
trap 'exit 130' INT TERM
moto_url="http://127.0.0.1:$moto_port"
moto_answers() {
  python3 -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1] + "/moto-api/", timeout=1)' \
    "$moto_url" 2>/dev/null
}
# Up to a minute: importing moto is slow on a busy machine.
for _ in $(seq 120); do
  moto_answers && break
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto exited before answering:" >&2
    cat "$moto_log" >&2
    exit 1
  fi
  sleep 0.5
done
moto_answers || { echo "moto did not answer on $moto_url" >&2; exit 1; }
# The AWS adapter tests read the endpoint from here; the credentials are moto's dummies.
export AWS_ENDPOINT_URL="$moto_url" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "template: cfn-lint, least-privilege policies, alarms that can fire"
cfn-lint template.yaml
python3 infra/check_policies.py template.yaml
python3 infra/check_template.py template.yaml

log "the benchmark's moto: transactions and the FIFO queue behave as AWS's do"
python3 tests/bench/moto_server_check.py

log "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --profile ci
else
  cargo test --workspace --locked
fi

log "throughput benchmark, smoke size (the bound, R exact for direct invoices, no 429)"
# The binary the tests built (tests/bench/tests): `cargo run -p` would build every crate again
# with the bench package's own feature set.
"${CARGO_TARGET_DIR:-target}/debug/billsync-bench" --smoke
disk

log "Lambda functions for arm64 (cargo-lambda)"
./scripts/build-lambdas.sh
