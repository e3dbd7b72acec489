"""Delivery of the native edition (the Envoy dynamic module libwebhook_guard.so), each
manifest loaded into a real Envoy with the module the way its control plane hands it over:

- envoy/native.yaml, the demo config with the dynamic-module filter: the Wasm demo's
  policy and Envoy settings with only the filter changed; loaded as it is (ports
  rewritten), the module found through ENVOY_DYNAMIC_MODULES_SEARCH_PATH and its secrets
  in Envoy's environment, as the image `make image-native` sets them up.
- deploy/envoy-gateway/dynamic-module.yaml as Envoy Gateway (1.8+) translates it: the
  filter named after the policy, disabled on the listener and enabled on the route by
  typed_per_filter_config, dynamic_module_config.module.local.filename the path the
  EnvoyProxy registers (here the build), the config as a StringValue, the secrets from
  the proxy container's environment.
- deploy/istio/native-envoyfilter.yaml as istiod hands it to a sidecar: the
  EXTENSION_CONFIG served by extension config discovery (here from a file), the
  HTTP_FILTER patch's filter first in an inbound chain; and a sidecar whose module does
  not load serves nothing.

Each one guards (a signed webhook reaches the app with the verdict header, an unsigned
one is refused and reaches nothing) and holds a request's headers until its body is
verified, which the Wasm policy of Envoy Gateway cannot. About the native module itself:
runs under --edition native, whose harness starts Envoy as the image does (the search
path at the build, the runtime flag of the examples).
"""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml

import harness
from delivered import assert_guards, assert_holds_headers_until_the_body_is_verified
import prometheus
import signing

REPO = harness.REPO
NATIVE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilter"
STRING_VALUE = "type.googleapis.com/google.protobuf.StringValue"
NATIVE = yaml.safe_load((REPO / "envoy" / "native.yaml").read_text())
DEMO = harness.load_demo_config()
GATEWAY = {d["kind"]: d for d in yaml.safe_load_all((REPO / "deploy/envoy-gateway/dynamic-module.yaml").read_text())}
GATEWAY_WASM = yaml.safe_load((REPO / "deploy/envoy-gateway/envoyextensionpolicy.yaml").read_text())
ISTIO = yaml.safe_load((REPO / "deploy/istio/native-envoyfilter.yaml").read_text())
ISTIO_WASM = yaml.safe_load((REPO / "deploy/istio/envoyfilter.yaml").read_text())
ISTIO_PATCHES = {p["applyTo"]: p for p in ISTIO["spec"]["configPatches"]}
ISTIO_WORKLOAD = list(yaml.safe_load_all((REPO / "deploy/istio/native-workload.yaml").read_text()))
STATS_CONFIGMAP = yaml.safe_load((REPO / "deploy/istio/webhook-guard-stats.yaml").read_text())
DOCKERFILE = (REPO / "images" / "native.Dockerfile").read_text()
SECRET = "native-e2e-github-secret-8c4d"

pytestmark = pytest.mark.native_only(reason="delivering the native module (Envoy Gateway, Istio, envoy/native.yaml)")


def native_filter(cfg: dict) -> dict:
    """The dynamic-module filter entry of a demo-shaped config."""
    [entry] = [f for f in harness.hcm(cfg)["http_filters"] if f.get("typed_config", {}).get("@type") == NATIVE_TYPE]
    return entry


def without_filter(cfg: dict) -> dict:
    cfg = copy.deepcopy(cfg)
    cfg.pop("layered_runtime", None)
    hcm = harness.hcm(cfg)
    hcm["http_filters"] = [f for f in hcm["http_filters"] if f["name"] != "webhook_guard"]
    return cfg


def image_search_path() -> str:
    return re.search(r"^ENV ENVOY_DYNAMIC_MODULES_SEARCH_PATH=(\S+)$", DOCKERFILE, re.M).group(1)


def native_for_test(cfg: dict, upstream_port: int) -> dict:
    """A demo-shaped native config on kernel-chosen ports, its cluster pointed at the
    test's upstream. Nothing else changes."""
    cfg = copy.deepcopy(cfg)
    cfg["admin"]["address"]["socket_address"].update(address="127.0.0.1", port_value=0)
    cfg["static_resources"]["listeners"][0]["address"]["socket_address"].update(address="127.0.0.1", port_value=0)
    for cluster in cfg["static_resources"]["clusters"]:
        for ep in cluster["load_assignment"]["endpoints"]:
            for lb in ep["lb_endpoints"]:
                lb["endpoint"]["address"]["socket_address"].update(address="127.0.0.1", port_value=upstream_port)
    return cfg


# --------------------------------------------------------------------------------------
# The manifests (no module needed).


def test_the_native_example_is_the_wasm_demo_with_only_the_filter_changed():
    assert without_filter(NATIVE) == without_filter(DEMO)
    names = [f["name"] for f in harness.hcm(NATIVE)["http_filters"]]
    assert names == ["webhook_guard", "envoy.filters.http.router"]
    module = native_filter(NATIVE)["typed_config"]
    assert module["dynamic_module_config"] == {"name": "webhook_guard", "metrics_namespace": "wasmcustom"}
    assert module["filter_name"] == "webhook_guard"
    # The metrics under the Wasm plugin's names: the namespace stripped, as for Wasm.
    [layer] = NATIVE["layered_runtime"]["layers"]
    assert layer["static_layer"] == {"envoy.reloadable_features.dynamic_modules_strip_custom_stat_prefix": True}
    assert module["filter_config"]["@type"] == STRING_VALUE
    assert json.loads(module["filter_config"]["value"]) == harness.demo_policy(DEMO)


def test_the_gateway_policy_loads_the_module_the_envoyproxy_registers_from_its_image():
    proxy, policy = GATEWAY["EnvoyProxy"]["spec"], GATEWAY["EnvoyExtensionPolicy"]["spec"]
    [entry] = proxy["dynamicModules"]
    [module] = policy["dynamicModule"]
    assert module["name"] == entry["name"] and module["filterName"] == "webhook_guard"
    assert entry["source"]["type"] == "Local"
    assert entry["source"]["local"]["path"] == image_search_path() + "/libwebhook_guard.so"
    # The same policy as the Wasm one (kept for later), with the secrets in the proxy's env.
    [wasm] = GATEWAY_WASM["spec"]["wasm"]
    assert module["config"] == wasm["config"]
    assert policy["targetRefs"] == GATEWAY_WASM["spec"]["targetRefs"]
    container = proxy["provider"]["kubernetes"]["envoyDeployment"]["container"]
    assert "image" in container
    referenced = {s["env"] for r in module["config"]["routes"] for c in r["checks"].values() for s in c.get("secrets", [])}
    assert {e["name"] for e in container["env"]} == referenced
    secret = GATEWAY["Secret"]["metadata"]["name"]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"]} == {secret}


def test_the_native_envoyfilter_matches_the_wasm_one_but_for_the_filter():
    wasm_patches = {p["applyTo"]: p for p in ISTIO_WASM["spec"]["configPatches"]}
    assert ISTIO["spec"]["workloadSelector"] == ISTIO_WASM["spec"]["workloadSelector"]
    native_http, wasm_http = ISTIO_PATCHES["HTTP_FILTER"], wasm_patches["HTTP_FILTER"]
    assert native_http["match"] == wasm_http["match"] and native_http["patch"]["operation"] == "INSERT_FIRST"
    value = native_http["patch"]["value"]
    assert value["config_discovery"]["type_urls"] == [NATIVE_TYPE]
    assert value["config_discovery"]["config_source"]["initial_fetch_timeout"] == "0s"
    extension = ISTIO_PATCHES["EXTENSION_CONFIG"]["patch"]["value"]
    assert extension["name"] == value["name"]
    module = extension["typed_config"]
    assert module["@type"] == NATIVE_TYPE
    assert module["dynamic_module_config"] == {"name": "webhook_guard", "metrics_namespace": "wasmcustom"}
    wasm_config = wasm_patches["EXTENSION_CONFIG"]["patch"]["value"]["typed_config"]["config"]
    assert json.loads(module["filter_config"]["value"]) == json.loads(wasm_config["configuration"]["value"])
    [deployment] = [d for d in ISTIO_WORKLOAD if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["app"] == ISTIO["spec"]["workloadSelector"]["labels"]["app"]
    assert "sidecar.istio.io/proxyImage" in pod["metadata"]["annotations"]
    assert pod["metadata"]["annotations"]["sidecar.istio.io/bootstrapOverride"] == STATS_CONFIGMAP["metadata"]["name"]
    [proxy] = [c for c in pod["spec"]["containers"] if c["name"] == "istio-proxy"]
    assert {e["name"] for e in proxy["env"]} == set(wasm_config["vm_config"]["environment_variables"]["host_env_keys"])


# --------------------------------------------------------------------------------------
# In a real Envoy with the module.


@pytest.fixture(scope="module")
def native_example(envoy_factory):
    cfg = native_for_test(NATIVE, envoy_factory.upstream.port)
    env = harness.demo_env(DEMO)
    harness.require_wasm()
    with harness.environment(env):
        return envoy_factory.start_config(cfg, name="native-example",
                                          secrets=harness.collect_secrets(harness.demo_policy(DEMO), env))


def test_the_native_example_guards(native_example, upstream):
    native_example.wait_log(r"webhook-guard: configured 3 route", timeout=10)
    allowed = native_example.counter("webhook_guard.github.allowed")
    assert_guards(native_example, upstream, harness.demo_env(DEMO)["GITHUB_WEBHOOK_SECRET"])
    # The Wasm plugin's metric names, and as Prometheus sees them, the demo's stats tags.
    assert native_example.wait_counter("webhook_guard.github.allowed", allowed + 1) == allowed + 1
    scrape = prometheus.scrape(native_example)
    assert scrape.value("webhook_guard_denied", route="github", reason="signature_missing") >= 1
    assert scrape.value("webhook_guard_denied", route="github", reason="signature_mismatch") >= 1


def gateway_filter_as_envoy_gateway_builds_it() -> tuple[dict, str]:
    """The HTTP filter Envoy Gateway's translator makes of the EnvoyExtensionPolicy and
    the EnvoyProxy's registry entry (internal/xds/translator/dynamicmodule.go, 1.8-1.9),
    and its name, which the route enables."""
    meta = GATEWAY["EnvoyExtensionPolicy"]["metadata"]
    [module] = GATEWAY["EnvoyExtensionPolicy"]["spec"]["dynamicModule"]
    [entry] = GATEWAY["EnvoyProxy"]["spec"]["dynamicModules"]
    name = (f"envoy.filters.http.dynamic_modules/envoyextensionpolicy/{meta['namespace']}/{meta['name']}"
            "/dynamic-module/0")
    # The deployer's step: the image's path is, here, the build.
    assert entry["source"]["local"]["path"].endswith("/" + harness.NATIVE_LIB.name)
    return {
        "name": name,
        "disabled": True,
        "typed_config": {
            "@type": NATIVE_TYPE,
            "dynamic_module_config": {
                "do_not_close": entry.get("doNotClose", False),
                "load_globally": entry.get("loadGlobally", False),
                "module": {"local": {"filename": str(harness.NATIVE_LIB)}},
            },
            "filter_name": module.get("filterName", ""),
            "terminal_filter": module.get("terminalFilter", False),
            "filter_config": {"@type": STRING_VALUE, "value": json.dumps(module["config"])},
        },
    }, name


@pytest.fixture(scope="module")
def gateway_envoy(envoy_factory):
    harness.require_wasm()
    cfg = native_for_test(NATIVE, envoy_factory.upstream.port)
    cfg.pop("layered_runtime")  # Envoy Gateway writes the bootstrap: none of our runtime flags
    hcm = harness.hcm(cfg)
    http_filter, name = gateway_filter_as_envoy_gateway_builds_it()
    hcm["http_filters"] = [http_filter, hcm["http_filters"][-1]]
    # Enabled on the HTTPRoute's route only, as Envoy Gateway does.
    [route] = hcm["route_config"]["virtual_hosts"][0]["routes"]
    route["typed_per_filter_config"] = {name: {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
                                               "config": {}}}
    # No search path: the module comes by its file name.
    with harness.environment({"GITHUB_WEBHOOK_SECRET": SECRET}):
        return envoy_factory.start_config(cfg, name="envoy-gateway", secrets=[SECRET])


def test_envoy_gateway_guards_with_the_module(gateway_envoy, upstream):
    gateway_envoy.wait_log(r"webhook-guard: configured 1 route", timeout=10)
    assert_guards(gateway_envoy, upstream, SECRET)
    resp = harness.http1(gateway_envoy.port, "POST", "/elsewhere", [], b"{}")
    assert resp.status == 404, resp
    upstream.assert_nothing_reached()


def test_envoy_gateway_holds_the_headers_until_the_body_is_verified(gateway_envoy, upstream):
    assert_holds_headers_until_the_body_is_verified(gateway_envoy, upstream, SECRET)


def sidecar_config(upstream_port: int, ecds_path) -> dict:
    """An inbound listener shaped like a sidecar's: the demo's HCM settings, the patch's
    filter first (its config from discovery, here the file `ecds_path`), then the router."""
    cfg = native_for_test(NATIVE, upstream_port)
    cfg["node"] = {"id": "sidecar~10.0.0.7~webhook-receiver-1.webhooks~webhooks.svc.cluster.local",
                   "cluster": "webhook-receiver.webhooks"}
    http_filter = copy.deepcopy(ISTIO_PATCHES["HTTP_FILTER"]["patch"]["value"])
    source = http_filter["config_discovery"]["config_source"]
    source.pop("ads")
    source["path_config_source"] = {"path": str(ecds_path)}
    hcm = harness.hcm(cfg)
    hcm["http_filters"] = [http_filter, hcm["http_filters"][-1]]
    return cfg


def write_ecds(workdir, module_file=None) -> object:
    """The EXTENSION_CONFIG as extension config discovery serves it; `module_file` stands
    for an image whose module is elsewhere (or missing)."""
    workdir.mkdir(parents=True, exist_ok=True)
    extension = copy.deepcopy(ISTIO_PATCHES["EXTENSION_CONFIG"]["patch"]["value"])
    if module_file is not None:
        extension["typed_config"]["dynamic_module_config"]["module"] = {"local": {"filename": str(module_file)}}
    ecds = workdir / "ecds.yaml"
    ecds.write_text(yaml.safe_dump({"resources": [{
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig", **extension}]}))
    return ecds


@pytest.fixture(scope="module")
def istio_envoy(envoy_factory):
    cfg = sidecar_config(envoy_factory.upstream.port, write_ecds(harness.WORK / "native-istio"))
    # A sidecar's own bootstrap has none of our tags or runtime layers (Istio writes it).
    del cfg["stats_config"]
    cfg["layered_runtime"] = {"layers": [{"name": "global config", "static_layer": {}},
                                         {"name": "admin", "admin_layer": {}}]}
    # The workload's custom bootstrap, merged as pilot-agent does it (--config-yaml).
    custom = STATS_CONFIGMAP["data"]["custom_bootstrap.json"]
    harness.require_wasm()
    with harness.environment({"GITHUB_WEBHOOK_SECRET": SECRET}):
        return envoy_factory.start_config(cfg, name="istio-native-sidecar", secrets=[SECRET],
                                          extra_args=["--config-yaml", json.dumps(json.loads(custom))])


def test_the_sidecar_guards_with_the_module(istio_envoy, upstream):
    istio_envoy.wait_log(r"webhook-guard: configured 1 route", timeout=10)
    assert_guards(istio_envoy, upstream, SECRET)
    # Labelled as for the Wasm plugin, through the workload's custom bootstrap.
    scrape = prometheus.scrape(istio_envoy)
    assert scrape.value("webhook_guard_allowed", route="github") >= 1
    assert scrape.value("webhook_guard_denied", route="github", reason="signature_missing") >= 1


def test_the_sidecar_holds_the_headers_until_the_body_is_verified(istio_envoy, upstream):
    assert_holds_headers_until_the_body_is_verified(istio_envoy, upstream, SECRET)


def test_a_sidecar_whose_module_does_not_load_refuses_every_request(envoy_factory, upstream, tmp_path):
    """An image without the module: Envoy rejects the discovered config, and the filter,
    left without one, answers every request 500: none passes unchecked."""
    missing = tmp_path / harness.NATIVE_LIB.name
    cfg = sidecar_config(envoy_factory.upstream.port, write_ecds(harness.WORK / "native-istio-missing", missing))
    with harness.environment({"GITHUB_WEBHOOK_SECRET": SECRET}):
        envoy = envoy_factory.start_config(cfg, name="istio-native-missing", secrets=[SECRET])
    envoy.wait_log(r"config update rejected: .*" + re.escape(str(missing)), timeout=10)
    body = b'{"zen":"native"}'
    for headers in ([], signing.github(SECRET, body)):
        resp = harness.http1(envoy.port, "POST", "/webhooks/github", headers, body)
        assert resp.status == 500, resp
    upstream.assert_nothing_reached()
