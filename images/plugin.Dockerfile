# The plugin as an OCI image in Istio's Wasm image format ("compat" variant): FROM scratch,
# one layer holding nothing but plugin.wasm. `make image` builds it; Istio (WasmPlugin.url,
# or code.remote.http_uri oci://... in an EnvoyFilter) pulls it and hands the file to Envoy.
FROM scratch
COPY plugin.wasm ./plugin.wasm
