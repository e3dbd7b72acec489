#!/usr/bin/env bash
# Check the native edition's library against what runs it:
# - every Envoy callback it calls is one the Envoy binary exports (a missing one makes
#   the module fail to load with `undefined symbol`);
# - it needs no glibc newer than the official Envoy 1.40 image's: envoyproxy/envoy is
#   built FROM ubuntu:22.04 (glibc 2.35; its distroless variant: Debian 12, glibc 2.36);
# - it needs libgcc_s.so.1 (unwinding), which every image that carries it must carry.
# Usage: scripts/check-native.sh <libwebhook_guard.so> [<envoy binary>]
set -euo pipefail

so=${1:?usage: check-native.sh <library> [envoy binary]}
envoy=${2:-}
MAX_GLIBC=2.35

if [ -z "$envoy" ] || ! file -L "$envoy" 2>/dev/null | grep -q ELF; then
    # The Envoy that `make setup` installs is a Python package; its binary sits inside.
    envoy=$(.venv/bin/python -c 'import envoy._bin, pathlib; print(pathlib.Path(envoy._bin.__file__).parent / "envoy")')
fi

needed=$(nm -D --undefined-only "$so" | awk '{print $2}' | grep '^envoy_dynamic_module_callback_' | sort -u)
exported=$(nm -D --defined-only "$envoy" | awk '{print $3}' | grep '^envoy_dynamic_module_callback_' | sort -u)
missing=$(comm -23 <(echo "$needed") <(echo "$exported"))
if [ -n "$missing" ]; then
    echo "check-native: $so calls callbacks $envoy does not export:" >&2
    echo "$missing" >&2
    exit 1
fi

highest=$(objdump -T "$so" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1)
if [ "$(printf '%s\n%s\n' "$highest" "$MAX_GLIBC" | sort -V | tail -n1)" != "$MAX_GLIBC" ]; then
    echo "check-native: $so needs GLIBC_$highest, newer than the Envoy image's glibc $MAX_GLIBC" >&2
    exit 1
fi

libs=$(objdump -p "$so" | awk '/NEEDED/ {print $2}' | tr '\n' ' ')
size=$(wc -c < "$so")
echo "check-native: $so is $size bytes ($((size / 1024)) KiB), calls $(echo "$needed" | wc -l) Envoy callbacks (all exported), needs GLIBC_$highest at most; libraries: $libs"
