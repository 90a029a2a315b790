#!/usr/bin/env bash
# Builds every guest example into one folder of .wasm files:
#   guest-examples/build.sh [OUT_DIR]        (default: target/guests in the repository)
# Rust guests for wasm32-wasip2 (components; command-echo also for wasm32-wasip1), the C
# guest with clang + wasi-libc, the Python guest with componentize-py and the JavaScript
# guest with componentize-js. Incremental: cargo's own caching, and the other languages are
# rebuilt only when a source is newer than the output. tests/run-all.sh installs the tools.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mkdir -p "${1:-$here/../target/guests}" && cd "${1:-$here/../target/guests}" && pwd)"

need() {
    command -v "$1" >/dev/null || { echo "build.sh: $1 not found ($2); tests/run-all.sh installs it" >&2; exit 1; }
}

# Outputs older than any of the given sources (or missing) need a rebuild.
stale() {
    local target="$1"; shift
    [[ ! -e "$target" ]] && return 0
    [[ -n "$(find "$@" -newer "$target" -print -quit)" ]]
}

# --- Rust ---
need cargo "the Rust toolchain"
cargo_out="$out/cargo"
cargo build --quiet --release --manifest-path "$here/rust/Cargo.toml" --target-dir "$cargo_out" \
    --target wasm32-wasip2 --workspace
cargo build --quiet --release --manifest-path "$here/rust/Cargo.toml" --target-dir "$cargo_out" \
    --target wasm32-wasip1 -p command-echo
for crate in echo check_inventory process_payment notify sandbox_probe wrong_world; do
    cp "$cargo_out/wasm32-wasip2/release/$crate.wasm" "$out/rust-${crate//_/-}.wasm"
done
cp "$cargo_out/wasm32-wasip2/release/command-echo.wasm" "$out/rust-command-echo.p2.wasm"
cp "$cargo_out/wasm32-wasip1/release/command-echo.wasm" "$out/rust-command-echo.p1.wasm"

# --- C ---
cc=clang-14
command -v "$cc" >/dev/null || cc=clang
need "$cc" "Debian packages clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32"
if stale "$out/c-wordcount.wasm" "$here/c/wordcount"; then
    "$cc" --target=wasm32-wasi --sysroot=/usr -O2 -Wall -Wextra -Werror -fuse-ld=lld \
        -Wl,--strip-all -o "$out/c-wordcount.wasm" "$here/c/wordcount/wordcount.c"
fi

echo "guests built in $out"
