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
    [[ -n "$(find "$@" -newer "$target" -not -path '*/__pycache__*' -print -quit)" ]]
}

# --- Rust ---
need cargo "the Rust toolchain"
cargo_out="$out/cargo"
cargo build --quiet --release --manifest-path "$here/rust/Cargo.toml" --target-dir "$cargo_out" \
    --target wasm32-wasip2 --workspace
cargo build --quiet --release --manifest-path "$here/rust/Cargo.toml" --target-dir "$cargo_out" \
    --target wasm32-wasip1 -p command-echo
for crate in echo check_inventory process_payment notify update_order_record request_approval \
    sandbox_probe wrong_world; do
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

# --- Python (componentize-py) ---
need componentize-py "pip install componentize-py==0.25.1"
for app in "$here"/python/*/; do
    name="python-$(basename "$app")"
    if stale "$out/$name.wasm" "$app" "$here/../sdk/python" "$here/../sdk/wit"; then
        (cd "$out" && PYTHONDONTWRITEBYTECODE=1 componentize-py -d "$here/../sdk/wit" -w task componentize app \
            -p "$app" -p "$here/../sdk/python" -o "$out/$name.wasm" >/dev/null)
    fi
done

# --- JavaScript (componentize-js) ---
need node "Node.js"
js_sdk="$here/../sdk/js"
[[ -d "$js_sdk/node_modules/@bytecodealliance/componentize-js" ]] ||
    { echo "build.sh: run npm ci in sdk/js (tests/run-all.sh does)" >&2; exit 1; }
for src in "$here"/js/*/; do
    name="js-$(basename "$src")"
    main="$(find "$src" -maxdepth 1 -name '*.js' | head -1)"
    if stale "$out/$name.wasm" "$src" "$js_sdk/sandflow.js" "$js_sdk/build.mjs" "$here/../sdk/wit"; then
        node "$js_sdk/build.mjs" "$main" "$out/$name.wasm"
    fi
done

echo "guests built in $out"
