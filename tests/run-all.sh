#!/usr/bin/env bash
# Installs what the test suite needs and runs every check CI runs: format, lints, all tests.
# Needs ../shared (the conformance cases) beside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

# Guest toolchains (the integration tests build guest-examples/ once per run).
bash tests/install-guest-tools.sh

cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# The guest examples are their own workspace, built for wasm by guest-examples/build.sh.
(cd guest-examples/rust && cargo fmt --all --check &&
    cargo clippy --quiet --release --target wasm32-wasip2 --workspace \
        --target-dir "${CARGO_TARGET_DIR:-$PWD/../../target}/guests/cargo" -- -D warnings)
cargo test --workspace
