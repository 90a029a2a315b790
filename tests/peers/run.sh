#!/usr/bin/env bash
# Sandflow beside its peers: the same Step Functions load against Sandflow, moto and LocalStack.
#
#   bash tests/peers/run.sh            # about 3-4 minutes on 2 cores, plus first-time installs
#
# What it does, one server at a time on loopback (so they never compete for the CPU):
#   1. builds `sandflow` in release and copies the binary aside (a shared target dir may be
#      rebuilt by others meanwhile), then `sandflow serve --listen 127.0.0.1:PORT --data TMP --dev`;
#   2. moto 5.2.5 (`moto[server,stepfunctions,sqs,dynamodb]`) from PyPI in its own venv, `moto_server`;
#      the load generator's --moto switches on moto's execution of state machines;
#   3. LocalStack (`localstack-core[runtime]`) from PyPI in its own venv, host mode (no Docker).
#      2026.3.0 declares Python >= 3.12 but imports `warnings.deprecated`, which is 3.13's, so it
#      needs Python >= 3.13: python3.13 on PATH or under ~/.pyenv; without one the LocalStack
#      column says so;
#   4. against each: `sandflow bench --endpoint URL --json` with every workload and client count;
#   5. prints one markdown table: rows = workload x clients, columns = each server's rate, p50 and
#      p99, and Sandflow's rate divided by each peer's.
# Everything it started is stopped on exit. It is not part of CI (it downloads the peers).
#
# Settings (environment):
#   PEERS_WORK       venvs, logs and results (default target/peers; venvs are reused)
#   PEERS_CLIENTS    client counts, comma-separated (default 1,4)
#   PEERS_DURATION   seconds per workload and client count (default 5)
#   PEERS_WORKLOADS  default express-sync,express-sync-1,standard,list,sqs-cycle,dynamodb-put-get
#   PEERS_ONLY       a subset of sandflow,moto,localstack (default all three)
#   PEERS_PYTHON     the Python (>= 3.13) for LocalStack's venv
#   SANDFLOW_BIN     a release `sandflow` binary to use instead of building one
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${PEERS_WORK:-$ROOT/target/peers}
CLIENTS=${PEERS_CLIENTS:-1,4}
DURATION=${PEERS_DURATION:-5}
WORKLOADS=${PEERS_WORKLOADS:-express-sync,express-sync-1,standard,list,sqs-cycle,dynamodb-put-get}
ONLY=${PEERS_ONLY:-sandflow,moto,localstack}
MOTO_VERSION=5.2.5
LOCALSTACK_VERSION=2026.3.0

mkdir -p "$WORK"
RUN=$(mktemp -d "$WORK/run.XXXXXX")
PGIDS=()

cleanup() {
    for g in "${PGIDS[@]}"; do
        kill -TERM -- "-$g" 2>/dev/null || true
    done
    sleep 1
    for g in "${PGIDS[@]}"; do
        kill -KILL -- "-$g" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[peers] %s\n' "$*" >&2; }

wanted() { [[ ",$ONLY," == *",$1,"* ]]; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts "$@" in its own process group (so cleanup can stop it and its children); sets STARTED.
start_group() {
    local logfile=$1
    shift
    setsid "$@" >"$logfile" 2>&1 &
    STARTED=$!
    PGIDS+=("$STARTED")
}

stop_group() {
    kill -TERM -- "-$1" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "-$1" 2>/dev/null || true
}

# Waits until URL answers with HTTP 200 (up to $2 seconds).
wait_ready() {
    local url=$1 limit=${2:-60} pid=$3
    for _ in $(seq $((limit * 10))); do
        if curl -sf -o /dev/null "$url"; then return 0; fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# A Python >= 3.13 for LocalStack, or nothing.
python_313() {
    local c
    for c in "${PEERS_PYTHON:-}" python3.14 python3.13 python3 \
        "$HOME"/.pyenv/versions/3.1[3-9]*/bin/python3; do
        [[ -n "$c" ]] && command -v "$c" >/dev/null 2>&1 || continue
        if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

# venv DIR PYTHON REQUIREMENT...: creates DIR with PYTHON and installs the requirements once.
venv() {
    local dir=$1 py=$2
    shift 2
    local want="$* $("$py" --version 2>&1)"
    if [[ -f "$dir/.installed" && "$(cat "$dir/.installed")" == "$want" ]]; then return 0; fi
    rm -rf "$dir"
    log "creating $dir ($want)"
    "$py" -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check "$@"
    echo "$want" >"$dir/.installed"
}

bench() {
    local name=$1 url=$2
    shift 2
    log "$name: $WORKLOADS at clients $CLIENTS, ${DURATION}s each"
    "$SANDFLOW" bench --endpoint "$url" --workload "$WORKLOADS" --clients "$CLIENTS" \
        --duration "$DURATION" --json "$@" >"$RUN/$name.jsonl" || true
    cat "$RUN/$name.jsonl" >&2
}

log "load before: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared)"

# --- Sandflow ---------------------------------------------------------------------------
SANDFLOW=$RUN/sandflow
if [[ -n "${SANDFLOW_BIN:-}" ]]; then
    cp "$SANDFLOW_BIN" "$SANDFLOW"
else
    log "building sandflow (release)"
    cargo build --quiet --release -p sandflow --manifest-path "$ROOT/Cargo.toml"
    cp "${CARGO_TARGET_DIR:-$ROOT/target}/release/sandflow" "$SANDFLOW"
fi

if wanted sandflow; then
    port=$(free_port)
    start_group "$RUN/sandflow.log" "$SANDFLOW" serve --listen "127.0.0.1:$port" \
        --data "$RUN/sandflow-data" --dev
    pid=$STARTED
    wait_ready "http://127.0.0.1:$port/health" 30 "$pid" || {
        log "sandflow did not start; see $RUN/sandflow.log"
        exit 1
    }
    bench sandflow "http://127.0.0.1:$port"
    stop_group "$pid"
fi

# --- moto -------------------------------------------------------------------------------
if wanted moto; then
    venv "$WORK/venv-moto" python3 "moto[server,stepfunctions,sqs,dynamodb]==$MOTO_VERSION"
    port=$(free_port)
    start_group "$RUN/moto.log" env MOTO_PORT="$port" \
        "$WORK/venv-moto/bin/moto_server" -H 127.0.0.1 -p "$port"
    pid=$STARTED
    if wait_ready "http://127.0.0.1:$port/moto-api/config" 60 "$pid"; then
        bench moto "http://127.0.0.1:$port" --moto
    else
        log "moto did not start; see $RUN/moto.log"
    fi
    stop_group "$pid"
fi

# --- LocalStack -------------------------------------------------------------------------
LOCALSTACK_NOTE=""
if wanted localstack; then
    if py=$(python_313); then
        # Its dependencies moved on since its release: cbor2 6 dropped `cbor2._decoder` and
        # pyOpenSSL 26 dropped `X509.add_extensions`, both of which it imports.
        venv "$WORK/venv-localstack" "$py" "localstack-core[runtime]==$LOCALSTACK_VERSION" \
            'cbor2<6' 'pyopenssl<26'
        port=$(free_port)
        mkdir -p "$RUN/localstack-fs"
        # Host mode without Docker; no DNS server on :53, no telemetry, no certificate download.
        start_group "$RUN/localstack.log" env GATEWAY_SERVER=hypercorn \
            SERVICES=stepfunctions,sqs,dynamodb,sts,events GATEWAY_LISTEN="127.0.0.1:$port" \
            FILESYSTEM_ROOT="$RUN/localstack-fs" DNS_ADDRESS=0 DISABLE_EVENTS=1 \
            SKIP_SSL_CERT_DOWNLOAD=1 LOCALSTACK_CLI=0 \
            "$WORK/venv-localstack/bin/python" -m localstack.runtime.main
        pid=$STARTED
        if wait_ready "http://127.0.0.1:$port/_localstack/health" 120 "$pid"; then
            bench localstack "http://127.0.0.1:$port"
        else
            log "LocalStack did not start; see $RUN/localstack.log"
            LOCALSTACK_NOTE="did not start"
        fi
        stop_group "$pid"
    else
        LOCALSTACK_NOTE="not run: needs Python >= 3.13"
    fi
fi

log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- The table ----------------------------------------------------------------------------
python3 - "$RUN" "$LOCALSTACK_NOTE" <<'EOF'
import json, os, sys

run, ls_note = sys.argv[1], sys.argv[2]
peers = [("sandflow", "Sandflow"), ("moto", "moto"), ("localstack", "LocalStack")]
results, order = {}, []
for key, _ in peers:
    path = os.path.join(run, key + ".jsonl")
    if not os.path.exists(path):
        continue
    for line in open(path):
        r = json.loads(line)
        row = (r["workload"], r["clients"])
        if row not in order:
            order.append(row)
        results[(key, row)] = r

def cell(key, row):
    r = results.get((key, row))
    if r is None:
        return ls_note if key == "localstack" and ls_note else "not run"
    if r.get("unsupported"):
        return "unsupported"
    if r["ok"] == 0:
        return "failed: " + r.get("error", "no call succeeded")
    s = f'{r["per_second"]:,.1f}/s, p50 {r["p50_ms"]} ms, p99 {r["p99_ms"]} ms'
    if r["errors"]:
        s += f', {r["errors"]} errors'
    return s

def ratio(key, row):
    a, b = results.get(("sandflow", row)), results.get((key, row))
    if not a or not b or b.get("unsupported") or not b["per_second"] or not a["per_second"]:
        return "-"
    return f'{a["per_second"] / b["per_second"]:,.0f}x'

units = {"standard": "executions/s, start latency", "sqs-cycle": "send+receive+delete cycles/s",
         "dynamodb-put-get": "put+get pairs/s"}
print("| workload | clients | Sandflow | moto | LocalStack | Sandflow/moto | Sandflow/LocalStack |")
print("|---|---|---|---|---|---|---|")
for row in order:
    w, c = row
    name = f'{w} ({units.get(w, "calls/s")})'
    cells = [cell(k, row) for k, _ in peers]
    print(f"| {name} | {c} | " + " | ".join(cells) + f" | {ratio('moto', row)} | {ratio('localstack', row)} |")
EOF
log "raw results and server logs: $RUN"
