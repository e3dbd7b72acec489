"""Envoy configuration for a test, derived from envoy/envoy.yaml so that the tests and
the demo share the filter settings."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Mapping

import yaml

from .settings import DEMO_ENVOY_YAML, WASM


def load_demo_config() -> dict:
    return yaml.safe_load(DEMO_ENVOY_YAML.read_text())


def _listener(cfg: dict) -> dict:
    return cfg["static_resources"]["listeners"][0]


def hcm(cfg: dict) -> dict:
    """The HttpConnectionManager typed_config of the (only) listener."""
    for f in _listener(cfg)["filter_chains"][0]["filters"]:
        if f["name"] == "envoy.filters.network.http_connection_manager":
            return f["typed_config"]
    raise KeyError("no http_connection_manager in the listener")


def wasm_plugin_config(cfg: dict) -> dict:
    """The wasm filter's PluginConfig (`typed_config.config`)."""
    for f in hcm(cfg)["http_filters"]:
        tc = f.get("typed_config", {})
        if tc.get("@type", "").endswith("envoy.extensions.filters.http.wasm.v3.Wasm"):
            return tc["config"]
    raise KeyError("no wasm filter in the demo config")


def demo_policy(cfg: dict | None = None) -> dict:
    cfg = cfg or load_demo_config()
    return json.loads(wasm_plugin_config(cfg)["configuration"]["value"])


def demo_env(cfg: dict | None = None) -> dict[str, str]:
    cfg = cfg or load_demo_config()
    return dict(wasm_plugin_config(cfg)["vm_config"].get("environment_variables", {}).get("key_values", {}))


def for_test(cfg: dict, upstream_port: int, wasm: Path = WASM) -> dict:
    """Rewrite a demo-shaped config for a test: kernel-chosen ports, the absolute path of
    the plugin build, the cluster pointed at the test's upstream. Nothing else changes."""
    cfg = copy.deepcopy(cfg)
    cfg["admin"]["address"]["socket_address"].update(address="127.0.0.1", port_value=0)
    _listener(cfg)["address"]["socket_address"].update(address="127.0.0.1", port_value=0)
    wasm_plugin_config(cfg)["vm_config"]["code"]["local"]["filename"] = str(wasm)
    for cluster in cfg["static_resources"]["clusters"]:
        for ep in cluster["load_assignment"]["endpoints"]:
            for lb in ep["lb_endpoints"]:
                lb["endpoint"]["address"]["socket_address"].update(address="127.0.0.1", port_value=upstream_port)
    return cfg


def build_config(
    policy: dict | str,
    upstream_port: int,
    env: Mapping[str, str] | None = None,
    *,
    listener: Mapping | None = None,
    filter_chain: Mapping | None = None,
    hcm_options: Mapping | None = None,
    plugin_options: Mapping | None = None,
    wasm: Path = WASM,
) -> dict:
    """An Envoy config with the demo's filter settings and the given policy.

    policy: a dict (serialised to JSON) or a string sent as is (for malformed-JSON tests).
    env: the VM's environment_variables.key_values (replaces the demo's secrets).
    listener / filter_chain / hcm_options / plugin_options: keys merged into the
    listener, its filter chain (e.g. a TLS `transport_socket`), the HttpConnectionManager
    and the wasm PluginConfig.
    """
    cfg = for_test(load_demo_config(), upstream_port, wasm)
    plugin = wasm_plugin_config(cfg)
    plugin["configuration"]["value"] = policy if isinstance(policy, str) else json.dumps(policy)
    plugin["vm_config"]["environment_variables"] = {"key_values": dict(env or {})}
    if plugin_options:
        plugin.update(copy.deepcopy(dict(plugin_options)))
    if hcm_options:
        hcm(cfg).update(copy.deepcopy(dict(hcm_options)))
    if listener:
        _listener(cfg).update(copy.deepcopy(dict(listener)))
    if filter_chain:
        _listener(cfg)["filter_chains"][0].update(copy.deepcopy(dict(filter_chain)))
    return cfg


def listener_on(address: str) -> dict:
    """`listener=` override for EnvoyFactory.start: listen on `address` (e.g. "::1"),
    on a port the kernel picks."""
    return {"address": {"socket_address": {"address": address, "port_value": 0}}}
