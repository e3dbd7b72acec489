"""The edition under test: the Wasm plugin or the native dynamic module (`--edition`).

Every config the suite writes holds the Wasm filter, as envoy/envoy.yaml does. Under the
native edition each Envoy gets the same config with every webhook-guard Wasm filter
replaced by the DynamicModuleFilter carrying the same plugin JSON; the secrets the Wasm
VM took from `vm_config.environment_variables` go into the Envoy process's environment,
where the native edition reads them, and ENVOY_DYNAMIC_MODULES_SEARCH_PATH points at the
build."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from .settings import REPO

EDITIONS = ("wasm", "native")
# The native build (`make native`); WEBHOOK_GUARD_NATIVE_DIR points the suite at another.
NATIVE_DIR = Path(os.environ.get("WEBHOOK_GUARD_NATIVE_DIR", REPO / "target" / "native"))
NATIVE_LIB = NATIVE_DIR / "libwebhook_guard.so"

WASM_FILTER = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
DYNAMIC_MODULE_FILTER = "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter"
STRING_VALUE = "type.googleapis.com/google.protobuf.StringValue"

_current = "wasm"


def set_edition(name: str) -> None:
    global _current
    if name not in EDITIONS:
        raise ValueError(f"unknown edition {name!r}: one of {', '.join(EDITIONS)}")
    _current = name


def current_edition() -> str:
    return _current


def is_native() -> bool:
    return _current == "native"


# The native edition's metrics come out under exactly the Wasm edition's names (so the
# stats tags, the dashboard and the alert rules serve both) with two settings: the
# module's metrics namespace is `wasmcustom`, the Wasm one, and Envoy strips it from
# `/stats` and `/stats/prometheus` (without `envoy_`) as it does for Wasm, which 1.40
# does for dynamic modules only behind this runtime flag.
METRICS_NAMESPACE = "wasmcustom"
STRIP_PREFIX_FLAG = "envoy.reloadable_features.dynamic_modules_strip_custom_stat_prefix"


def native_filter(plugin_json: str) -> dict:
    """The DynamicModuleFilter typed_config that runs the native edition with this plugin
    configuration (SPEC 7)."""
    return {
        "@type": DYNAMIC_MODULE_FILTER,
        "dynamic_module_config": {"name": "webhook_guard", "metrics_namespace": METRICS_NAMESPACE},
        "filter_name": "webhook_guard",
        "filter_config": {"@type": STRING_VALUE, "value": plugin_json},
    }


def _certificate_from_xfcc(plugin_json: str) -> tuple[str, bool]:
    """The 1.40 dynamic-module ABI gives a module no peer certificate, so the native
    edition pins client certificates with `source: xfcc`, from the x-forwarded-client-cert
    header that Envoy itself sets from the TLS connection (SANITIZE_SET, cert: true; a
    client's own header is dropped). The plugin JSON with every `client_cert` check that
    reads the connection turned into that, and whether there was any."""
    try:
        policy = json.loads(plugin_json)
    except ValueError:
        return plugin_json, False
    changed = False
    for route in policy.get("routes", []) if isinstance(policy, dict) else []:
        check = route.get("checks", {}).get("client_cert") if isinstance(route, dict) else None
        if isinstance(check, dict) and check.get("source", "connection") == "connection":
            check["source"] = "xfcc"
            changed = True
    return (json.dumps(policy) if changed else plugin_json), changed


def to_native(cfg: dict) -> tuple[dict, dict[str, str]]:
    """The config with every Wasm filter replaced by the native one, and the environment
    variables those Wasm VMs were given."""
    cfg = copy.deepcopy(cfg)
    env: dict[str, str] = {}

    def replace(node) -> bool:
        tc = node.get("typed_config")
        if not (isinstance(tc, dict) and tc.get("@type") == WASM_FILTER):
            return False
        plugin = tc.get("config", {})
        env.update(plugin.get("vm_config", {}).get("environment_variables", {}).get("key_values", {}))
        plugin_json, from_xfcc = _certificate_from_xfcc(plugin.get("configuration", {}).get("value", ""))
        node["typed_config"] = native_filter(plugin_json)
        return from_xfcc

    def walk(node):
        if isinstance(node, dict):
            filters = node.get("http_filters")
            if isinstance(filters, list):
                from_xfcc = [replace(f) for f in filters if isinstance(f, dict)]
                if any(from_xfcc):
                    node["forward_client_cert_details"] = "SANITIZE_SET"
                    node["set_current_client_cert_details"] = {"cert": True}
            elif replace(node):
                raise ValueError("a client_cert check outside an HttpConnectionManager's http_filters")
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(cfg)
    layers = cfg.setdefault("layered_runtime", {}).setdefault("layers", [])
    static = next((layer for layer in layers if "static_layer" in layer), None)
    if static is None:
        static = {"name": "webhook_guard_native", "static_layer": {}}
        layers.insert(0, static)
    static["static_layer"][STRIP_PREFIX_FLAG] = True
    return cfg, env


def process_env(vm_env: dict[str, str]) -> dict[str, str]:
    """The Envoy process's environment under the native edition."""
    return {**os.environ, **vm_env, "ENVOY_DYNAMIC_MODULES_SEARCH_PATH": str(NATIVE_DIR)}


# How the filter's own log lines are marked in Envoy's log: the Wasm plugin's go through
# the `wasm` logger ("wasm log <plugin>: ..."), the native edition's through
# `dynamic_modules`.
def plugin_log_mark() -> str:
    return "[dynamic_modules]" if is_native() else "wasm log"


def require_build() -> None:
    """The edition under test is built."""
    from .settings import WASM

    artifact = NATIVE_LIB if is_native() else WASM
    if not artifact.is_file():
        how = "make native" if is_native() else "make build"
        raise FileNotFoundError(f"the {_current} edition is not built: {artifact} is missing (run `{how}`)")
