#!/usr/bin/env bash
# Installs the load generators `make bench` needs, idempotently (silent when they are there):
#   h2load  Debian nghttp2-client: HTTP/2 load for every plaintext case;
#   oha     crates.io (built once with cargo, a few minutes): the mTLS (Copyleaks) cases,
#           because h2load cannot present a TLS client certificate. BENCH_TLS=0 skips it.
# perf (Debian linux-perf) is only needed for `bench/run.py --profile`; it is not installed here.
set -euo pipefail

OHA_VERSION=1.16.0

say() { printf 'bench setup: %s\n' "$*" >&2; }

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

if ! command -v h2load >/dev/null 2>&1; then
    say "installing h2load (Debian nghttp2-client)"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nghttp2-client >/dev/null
fi

if [ "${BENCH_TLS:-1}" != "0" ]; then
    oha="${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}"
    if [ ! -x "$oha" ] || ! "$oha" --version 2>/dev/null | grep -q "$OHA_VERSION"; then
        say "building oha $OHA_VERSION with cargo (once; a few minutes on 2 cores)"
        cargo install oha --version "$OHA_VERSION" --locked --quiet
    fi
fi
