#!/usr/bin/env bash
# The whole test suite, from a fresh Debian/Ubuntu machine: installs what is missing, then runs
# lints, UI unit tests, Rust unit and integration tests, the offline CLI scenario and the
# desktop end-to-end test in a real window under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

# In CI, keep the build cache outside the clone so that later runs rebuild only what changed.
if [ "${CI:-}" = "true" ] && [ -z "${CARGO_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="$HOME/.cache/tessera/target"
fi

echo "== UI: type check, build, unit tests"
(cd ui && npm run --silent build && npm test --silent)

echo "== Rust: format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== Rust: binaries the end-to-end tests drive"
cargo build --workspace --bins --locked

echo "== Rust: unit, integration and end-to-end tests"
cargo test --workspace --locked
