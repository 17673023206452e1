#!/usr/bin/env bash
# Builds the four Lambda functions for AWS Lambda's arm64 (Graviton) runtime with cargo-lambda:
# target/lambda/<function>/bootstrap, what SAM's rust-cargolambda build produces.
set -euo pipefail
cd "$(dirname "$0")/.."

pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check "$@" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}

# cargo-lambda ships its binary on PyPI; zig is its cross linker.
command -v cargo-lambda >/dev/null 2>&1 || pip_install cargo-lambda
python3 -c 'import ziglang' 2>/dev/null || pip_install ziglang
rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$' \
  || rustup target add aarch64-unknown-linux-gnu

cargo lambda build --release --arm64 --locked \
  -p billsync-webhook -p billsync-sweep -p billsync-worker -p billsync-retry
out="${CARGO_TARGET_DIR:-target}/lambda"
for f in webhook sweep worker retry; do
  test -x "$out/billsync-$f/bootstrap" || { echo "missing bootstrap for $f in $out" >&2; exit 1; }
done
echo "built: $(ls "$out"/billsync-*/bootstrap | tr '\n' ' ')"
