#!/usr/bin/env bash
# `make image`: the plugin (target/webhook_guard.wasm) as an OCI image in Istio's
# single-layer Wasm image format, tagged IMAGE (default webhook-guard:<crate version>).
# Push it with `docker tag` + `docker push`; the digest `docker push` prints is the
# `sha256` the manifests in deploy/istio/ want.
set -euo pipefail
cd "$(dirname "$0")/.."
image="${1:?usage: images/plugin-image.sh IMAGE}"
wasm=target/webhook_guard.wasm
[ -f "$wasm" ] || { echo "image: $wasm is missing; run 'make build'" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "image: no Docker Engine answers (docker info)" >&2; exit 1; }
ctx=.work/image
rm -rf "$ctx" && mkdir -p "$ctx"
cp "$wasm" "$ctx/plugin.wasm"
# Only the file's bytes should make the layer: a fixed timestamp and mode.
touch -d @0 "$ctx/plugin.wasm"
chmod 0644 "$ctx/plugin.wasm"
DOCKER_BUILDKIT=0 docker build -q -f images/plugin.Dockerfile -t "$image" "$ctx" >/dev/null 2>"$ctx/build.log" || {
    cat "$ctx/build.log" >&2; exit 1; }
echo "image: $image (plugin.wasm sha256 $(sha256sum "$wasm" | cut -d' ' -f1))"
