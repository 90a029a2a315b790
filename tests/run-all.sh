#!/usr/bin/env bash
# Installs what the test suite needs and runs every check CI runs: format, lints, all tests.
# Needs ../shared (the conformance cases) beside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
