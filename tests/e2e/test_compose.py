"""docker-compose.yml cannot run here (no Docker engine), so check that it stays wired to
the files the other tests exercise: the same envoy/envoy.yaml, demo/upstream.py with
arguments it accepts, the plugin where envoy.yaml looks for it, the Envoy version the
suite runs."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import PurePosixPath

import yaml

import harness

COMPOSE = yaml.safe_load((harness.REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def mounts(service: dict) -> dict[str, str]:
    """container path -> host path (relative to the repository root)."""
    out = {}
    for v in service.get("volumes", []):
        host, container = v.split(":")[:2]
        out[container] = host
    return out


def test_both_services_share_the_hosts_network():
    # envoy/envoy.yaml uses 127.0.0.1 for the upstream: only host networking makes that hold.
    assert SERVICES["envoy"]["network_mode"] == "host"
    assert SERVICES["upstream"]["network_mode"] == "host"


def test_envoy_image_matches_the_envoy_the_tests_run():
    out = subprocess.run([str(harness.ENVOY_BIN), "--version"], capture_output=True, text=True, check=True).stdout
    major_minor = re.search(r"/(\d+\.\d+)\.\d+/", out).group(1)
    assert SERVICES["envoy"]["image"] == f"envoyproxy/envoy:v{major_minor}-latest"


def test_envoy_mounts_the_demo_config_and_the_plugin_where_the_config_expects_it():
    envoy = SERVICES["envoy"]
    m = mounts(envoy)
    cmd = envoy["command"]
    config_in_container = cmd[cmd.index("-c") + 1]
    assert m[config_in_container] == "./envoy/envoy.yaml"
    wasm_rel = harness.wasm_plugin_config(harness.load_demo_config())["vm_config"]["code"]["local"]["filename"]
    wasm_in_container = str(PurePosixPath(envoy["working_dir"]) / wasm_rel)
    assert m[wasm_in_container] == "./" + wasm_rel
    for host in m.values():
        assert (harness.REPO / host).exists() or host.endswith(".wasm"), host


def test_upstream_runs_the_demo_upstream_with_valid_arguments():
    up = SERVICES["upstream"]
    m = mounts(up)
    cmd = up["command"]
    script = next(a for a in cmd if a.endswith("upstream.py"))
    assert m[script] == "./demo/upstream.py"
    spec = importlib.util.spec_from_file_location("demo_upstream", harness.DEMO_UPSTREAM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = module.build_parser().parse_args(cmd[cmd.index(script) + 1:])
    # The port envoy.yaml sends traffic to.
    cluster = harness.load_demo_config()["static_resources"]["clusters"][0]
    sa = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert (args.host, args.port) == (sa["address"], sa["port_value"])
