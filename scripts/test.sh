#!/usr/bin/env bash
# Every test of pmflow: formatting, lints, unit and integration tests (cargo nextest),
# and a check that the benchmarks build. Installs what it needs when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "== installing cargo-nextest"
  cargo install cargo-nextest --locked
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo nextest"
cargo nextest run --no-fail-fast
