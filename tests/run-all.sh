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
# The SDK is a guest crate (checked by clippy above, built for wasm by the guests): excluding it
# keeps the test build's features the same as `cargo build -p sandflow`, so wasmtime builds once.
cargo test --workspace --exclude sandflow-sdk

# The boto3/aws-cli suite against the built server (tests/python). Python tools live in a venv
# that is created once and reinstalled only when requirements.txt changes.
VENV=tests/python/.venv
if [ ! -f "$VENV/.installed" ] || ! cmp -s tests/python/requirements.txt "$VENV/.installed"; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
    cp tests/python/requirements.txt "$VENV/.installed"
fi
SANDFLOW_BIN=$(cargo build --quiet -p sandflow --message-format=json |
    "$VENV/bin/python" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "sandflow":
        print(m["executable"])')
export SANDFLOW_BIN
# The guests the integration tests built (incremental: nothing to do when they are current).
SANDFLOW_GUESTS="${CARGO_TARGET_DIR:-$PWD/target}/guests"
bash guest-examples/build.sh "$SANDFLOW_GUESTS" >/dev/null
export SANDFLOW_GUESTS
# The browser tests' screenshots of every console page, kept as artifacts of the run.
export CONSOLE_SCREENSHOTS="${CONSOLE_SCREENSHOTS:-${CARGO_TARGET_DIR:-$PWD/target}/console-screenshots}"
PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/python" -m pytest -q tests/python
