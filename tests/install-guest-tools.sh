#!/usr/bin/env bash
# Installs, if missing, what guest-examples/build.sh needs: the Rust wasm targets and Debian's
# clang + lld + wasi-libc for the C guest. Idempotent; quick when all is there.
set -euo pipefail

if command -v rustup >/dev/null; then
    installed="$(rustup target list --installed)"
    for t in wasm32-wasip1 wasm32-wasip2; do
        grep -qx "$t" <<<"$installed" || rustup target add "$t"
    done
fi

debs=()
command -v clang-14 >/dev/null || command -v clang >/dev/null || debs+=(clang-14)
command -v wasm-ld-14 >/dev/null || command -v wasm-ld >/dev/null || debs+=(lld-14)
[[ -e /usr/lib/wasm32-wasi/libc.a ]] || debs+=(wasi-libc)
compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a" >/dev/null ||
    debs+=(libclang-rt-14-dev-wasm32)
# The console's browser tests (tests/python/test_console.py) drive Debian's chromium through
# Playwright (never `playwright install`, which downloads a browser).
command -v chromium >/dev/null || debs+=(chromium)
if ((${#debs[@]})); then
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${debs[@]}"
fi

# Python guests: componentize-py from PyPI (pinned: it fixes the CPython and WASI versions).
if ! componentize-py --version 2>/dev/null | grep -q "0.25.1"; then
    python3 -m pip install --quiet componentize-py==0.25.1
fi

# JavaScript guests: componentize-js from npm, at the version in sdk/js/package-lock.json.
if [[ ! -d sdk/js/node_modules/@bytecodealliance/componentize-js ]]; then
    (cd sdk/js && npm ci --no-audit --no-fund --loglevel=error)
fi
