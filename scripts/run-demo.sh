#!/usr/bin/env bash
# `make run`: the demo upstream (demo/upstream.py) on 127.0.0.1:8080 in the background,
# Envoy with envoy/envoy.yaml in the foreground (listener 127.0.0.1:10000, admin
# 127.0.0.1:9901). Ctrl-C stops both. Extra arguments go to Envoy.
set -euo pipefail

cd "$(dirname "$0")/.."

wasm=target/webhook_guard.wasm
if [ ! -f "$wasm" ]; then
    echo "run-demo: $wasm is missing; run 'make build' first" >&2
    exit 1
fi

python3 -u demo/upstream.py --host 127.0.0.1 --port 8080 &
upstream_pid=$!
trap 'kill "$upstream_pid" 2>/dev/null || true; wait "$upstream_pid" 2>/dev/null || true' EXIT

cat >&2 <<'MSG'
run-demo: try, from another terminal:
    demo/send-webhook.sh github              # signed: 200 and the app's echo
    TAMPER=1 demo/send-webhook.sh github     # tampered: 401 {"error":"unauthorized"}
    curl -s 127.0.0.1:9901/stats | grep webhook_guard
MSG

# Not exec: the trap must stop the upstream when Envoy exits.
.venv/bin/envoy -c envoy/envoy.yaml --disable-hot-restart -l info --component-log-level wasm:info "$@"
