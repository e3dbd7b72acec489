# `make image-native`: an Envoy image that carries webhook-guard's native edition. FROM
# the official Envoy image by default (ubuntu:22.04 underneath, glibc 2.35; the
# distroless variant: Debian 12, glibc 2.36), or any Envoy 1.40 image (istio/proxyv2 for
# sidecars, a locally built one where no registry answers).
ARG ENVOY_IMAGE=envoyproxy/envoy:v1.40-latest
FROM ${ENVOY_IMAGE}
# The module, and the unwinder a Rust cdylib links (libgcc_s.so.1), which distroless
# images do not ship. Both world-readable: the official image runs Envoy as uid 101.
COPY libwebhook_guard.so libgcc_s.so.1 /usr/local/lib/webhook-guard/
# dynamic_module_config { name: webhook_guard } loads lib<name>.so from here.
ENV ENVOY_DYNAMIC_MODULES_SEARCH_PATH=/usr/local/lib/webhook-guard
# The loader finds libgcc_s.so.1 beside the module; nothing else lives in this directory,
# so it shadows no library Envoy itself links.
ENV LD_LIBRARY_PATH=/usr/local/lib/webhook-guard
