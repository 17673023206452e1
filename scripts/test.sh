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
command -v python3 >/dev/null || { echo "python3 is required for the signature cross-check" >&2; exit 1; }
# oauthlib: an independent OAuth 1.0a implementation that verifies billsync's signatures.
python3 -c 'import oauthlib' 2>/dev/null || pip_install 'oauthlib>=3.2'
rustup component add rustfmt clippy >/dev/null 2>&1 || true

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --profile ci
else
  cargo test --workspace --locked
fi
