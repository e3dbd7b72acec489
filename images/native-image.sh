#!/usr/bin/env bash
# `make image-native`: an Envoy image carrying the native edition (target/native/
# libwebhook_guard.so, from `make native`) and libgcc_s.so.1, with
# ENVOY_DYNAMIC_MODULES_SEARCH_PATH set (images/native.Dockerfile), tagged IMAGE.
#
# Built FROM ENVOY_IMAGE when it is set; else FROM the official Envoy image
# (envoyproxy/envoy:v1.40-latest) when it is here or can be pulled; else, where no
# registry answers, FROM the Envoy image images/local.sh builds from this machine's Envoy
# (as the compose stack does), and the script says so in one line.
# Prints the image's name on the last line of stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
image="${1:?usage: images/native-image.sh IMAGE}"
module=target/native/libwebhook_guard.so
official=envoyproxy/envoy:v1.40-latest
say() { printf 'image-native: %s\n' "$*" >&2; }

[ -f "$module" ] || { say "$module is missing; run 'make native'"; exit 1; }
docker info >/dev/null 2>&1 || { say "no Docker Engine answers (docker info)"; exit 1; }

base="${ENVOY_IMAGE:-}"
if [ -z "$base" ]; then
    if docker image inspect "$official" >/dev/null 2>&1 || docker pull -q "$official" >/dev/null 2>&1; then
        base="$official"
    else
        base="$(images/local.sh | sed -n 's/^ENVOY_IMAGE=//p')"
        say "no registry answers (cannot pull $official): building on $base from images/local.sh"
    fi
fi

# The libgcc_s.so.1 the module was linked against on this machine.
libgcc="$(ldd "$module" | awk '$1 == "libgcc_s.so.1" && $3 ~ /^\// {print $3}')"
[ -n "$libgcc" ] || libgcc="$(${CC:-cc} -print-file-name=libgcc_s.so.1 2>/dev/null || true)"
[ -f "$libgcc" ] || { say "cannot find the libgcc_s.so.1 $module links"; exit 1; }

ctx=.work/image-native
rm -rf "$ctx" && mkdir -p "$ctx"
cp "$module" "$ctx/libwebhook_guard.so"
cp -L "$libgcc" "$ctx/libgcc_s.so.1"
# Only the files' bytes should make the layer: a fixed timestamp and mode.
touch -d @0 "$ctx"/*.so*
chmod 0644 "$ctx"/*.so*
# The newest glibc symbol version the module links: the base image's glibc must have it.
glibc="an unknown glibc (no objdump here)"
if command -v objdump >/dev/null 2>&1; then
    glibc="$(objdump -T "$module" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n1)"
fi
DOCKER_BUILDKIT=0 docker build -q --build-arg "ENVOY_IMAGE=$base" -f images/native.Dockerfile -t "$image" "$ctx" \
    >/dev/null 2>"$ctx/build.log" || { cat "$ctx/build.log" >&2; exit 1; }
say "$image FROM $base (libwebhook_guard.so sha256 $(sha256sum "$module" | cut -c1-16)..., needs $glibc)"
echo "$image"
