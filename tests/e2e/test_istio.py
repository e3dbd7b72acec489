"""Istio delivery (deploy/istio/): the plugin's OCI image, and the Wasm config the
manifests carry, in a real Envoy.

- `make image` (images/plugin-image.sh) builds an image a registry accepts: pushed to a
  registry this test starts on loopback (Debian's docker-registry), its manifest and its
  one layer pulled back over the registry API hold exactly the built plugin, as
  plugin.wasm, in Istio's Wasm image format (compat variant: a Docker image manifest
  whose last layer is a gzip tar holding plugin.wasm).
- envoyfilter.yaml as istio-agent hands it to the sidecar: the EXTENSION_CONFIG's Wasm
  config served by extension config discovery (here from a file), its oci:// code
  replaced by the file pulled from that registry once the image digest matched the
  manifest's sha256, and the HTTP_FILTER patch's filter (first in the chain, config from
  discovery). It guards, and holds a request's headers until its body is verified.
- wasmplugin.yaml, translated the way Istio builds a Wasm filter from a WasmPlugin, and
  deploy/envoy-gateway/envoyextensionpolicy.yaml, the way Envoy Gateway does (neither
  can set allow_on_headers_stop_iteration): the plugin accepts their configuration, but
  a webhook whose body must be checked is never answered. That is why envoyfilter.yaml
  is the one to apply today.

The registry and the image need a Docker Engine: without one those tests are skipped
(REQUIRE_DOCKER=1 makes that an error); the rest runs everywhere.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

import compose_stack
import delivered
import harness
import signing

ISTIO = harness.REPO / "deploy" / "istio"
ENVOYFILTER = yaml.safe_load((ISTIO / "envoyfilter.yaml").read_text())
WASMPLUGIN = yaml.safe_load((ISTIO / "wasmplugin.yaml").read_text())
GATEWAY_POLICY = yaml.safe_load((harness.REPO / "deploy" / "envoy-gateway" / "envoyextensionpolicy.yaml").read_text())
WORKLOAD = list(yaml.safe_load_all((ISTIO / "workload.yaml").read_text()))
WASM_TYPE = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
PATCHES = {p["applyTo"]: p for p in ENVOYFILTER["spec"]["configPatches"]}
EXTENSION = PATCHES["EXTENSION_CONFIG"]["patch"]["value"]
WASM_CONFIG = EXTENSION["typed_config"]["config"]

pytestmark = pytest.mark.wasm_only(reason="Istio delivering the Wasm plugin (EnvoyFilter, WasmPlugin, OCI image)")
POLICY = json.loads(WASM_CONFIG["configuration"]["value"])
SECRET = "istio-e2e-github-secret-2b7e"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


# --------------------------------------------------------------------------------------
# The manifests (no Docker needed).


def test_envoyfilter_carries_the_filter_config_the_plugin_needs():
    assert ENVOYFILTER["apiVersion"] == "networking.istio.io/v1alpha3"
    assert EXTENSION["typed_config"]["@type"] == WASM_TYPE
    assert WASM_CONFIG["allow_on_headers_stop_iteration"] is True
    assert WASM_CONFIG["fail_open"] is False
    remote = WASM_CONFIG["vm_config"]["code"]["remote"]
    assert remote["http_uri"]["uri"].startswith("oci://")
    assert len(remote["sha256"]) == 64
    assert WASM_CONFIG["vm_config"]["runtime"] == "envoy.wasm.runtime.v8"


def test_the_http_filter_comes_first_in_the_inbound_chain_and_waits_for_its_config():
    patch = PATCHES["HTTP_FILTER"]
    assert patch["match"]["context"] == "SIDECAR_INBOUND"
    assert patch["match"]["listener"]["filterChain"]["filter"]["name"] == "envoy.filters.network.http_connection_manager"
    assert patch["patch"]["operation"] == "INSERT_FIRST"
    value = patch["patch"]["value"]
    assert value["name"] == EXTENSION["name"]
    assert value["config_discovery"]["type_urls"] == [WASM_TYPE]
    assert value["config_discovery"]["config_source"]["initial_fetch_timeout"] == "0s"
    assert "typed_config" not in value


def test_wasmplugin_matches_the_envoyfilter():
    spec = WASMPLUGIN["spec"]
    assert spec["phase"] == "AUTHN" and spec["failStrategy"] == "FAIL_CLOSE"
    remote = WASM_CONFIG["vm_config"]["code"]["remote"]
    assert spec["url"] == remote["http_uri"]["uri"] and spec["sha256"] == remote["sha256"]
    assert spec["pluginName"] == WASM_CONFIG["root_id"]
    assert spec["pluginConfig"] == POLICY
    assert spec["selector"]["matchLabels"] == ENVOYFILTER["spec"]["workloadSelector"]["labels"]


def test_the_gateway_policy_matches_the_envoyfilter():
    [wasm] = GATEWAY_POLICY["spec"]["wasm"]
    assert wasm["failOpen"] is False and wasm["rootID"] == WASM_CONFIG["root_id"]
    assert wasm["code"]["type"] == "Image"
    assert "oci://" + wasm["code"]["image"]["url"] == WASM_CONFIG["vm_config"]["code"]["remote"]["http_uri"]["uri"]
    assert wasm["config"] == POLICY
    assert wasm["env"]["hostKeys"] == WASM_CONFIG["vm_config"]["environment_variables"]["host_env_keys"]


def test_secrets_come_from_the_sidecars_environment_set_by_the_workload():
    wanted = set(WASM_CONFIG["vm_config"]["environment_variables"]["host_env_keys"])
    referenced = {s["env"] for r in POLICY["routes"] for c in r["checks"].values() for s in c.get("secrets", [])}
    assert referenced <= wanted
    assert {e["name"] for e in WASMPLUGIN["spec"]["vmConfig"]["env"] if e["valueFrom"] == "HOST"} == wanted
    [deployment] = [d for d in WORKLOAD if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["app"] == ENVOYFILTER["spec"]["workloadSelector"]["labels"]["app"]
    [proxy] = [c for c in pod["spec"]["containers"] if c["name"] == "istio-proxy"]
    assert {e["name"] for e in proxy["env"]} == wanted
    [secret] = [d for d in WORKLOAD if d["kind"] == "Secret"]
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in proxy["env"]} == {secret["metadata"]["name"]}


# --------------------------------------------------------------------------------------
# The image, through a registry.


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def registry():
    """Debian's docker-registry (the reference registry) on a loopback port."""
    compose_stack.require_docker()
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry is not installed (make setup installs it where Docker runs)", pytrace=False)
    workdir = harness.WORK / "istio" / "registry"
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (workdir / "config.yml").write_text(yaml.safe_dump({
        "version": 0.1, "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(workdir / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }))
    log = open(workdir / "registry.log", "wb")
    proc = subprocess.Popen([binary, "serve", str(workdir / "config.yml")], stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=harness._die_with_parent)
    url = f"http://127.0.0.1:{port}"
    try:
        harness.wait_until(lambda: _get(url + "/v2/")[0] == 200, 20, interval=0.1, what="the registry")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _get(url: str, accept: str | None = None) -> tuple[int, bytes, dict]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)
    except OSError:
        return 0, b"", {}


@pytest.fixture(scope="module")
def pushed(registry):
    """`make image`'s script, then the image pushed to the test registry."""
    harness.require_wasm()
    local = f"webhook-guard-e2e:{os.getpid()}"
    remote = f"{registry}/webhooks/webhook-guard:e2e"
    out = subprocess.run([str(harness.REPO / "images" / "plugin-image.sh"), local], capture_output=True, text=True,
                         timeout=300, cwd=harness.REPO)
    assert out.returncode == 0, out.stderr
    try:
        for args in (["tag", local, remote], ["push", remote]):
            step = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
            assert step.returncode == 0, step.stderr
        yield {"registry": registry, "repository": "webhooks/webhook-guard", "tag": "e2e", "push": step.stdout}
    finally:
        subprocess.run(["docker", "rmi", local, remote], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def pulled(pushed):
    """The manifest and the layer, fetched over the registry's HTTP API as istio-agent does."""
    base = f"http://{pushed['registry']}/v2/{pushed['repository']}"
    status, body, headers = _get(f"{base}/manifests/{pushed['tag']}", accept=DOCKER_MANIFEST)
    assert status == 200, body
    manifest = json.loads(body)
    digest = headers.get("Docker-Content-Digest") or headers.get("docker-content-digest")
    layers = manifest["layers"]
    blobs = {}
    for layer in layers:
        status, blob, _ = _get(f"{base}/blobs/{layer['digest']}")
        assert status == 200
        blobs[layer["digest"]] = blob
    return {"manifest": manifest, "manifest_bytes": body, "digest": digest, "blobs": blobs, "push": pushed["push"]}


def test_the_image_is_one_layer_holding_exactly_the_built_plugin(pulled):
    manifest = pulled["manifest"]
    assert manifest["mediaType"] == DOCKER_MANIFEST and manifest["schemaVersion"] == 2
    [layer] = manifest["layers"]
    assert layer["mediaType"] == DOCKER_LAYER
    blob = pulled["blobs"][layer["digest"]]
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer["digest"] and len(blob) == layer["size"]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        members = [m for m in tar.getmembers() if not m.isdir()]
        assert [m.name.lstrip("./") for m in members] == ["plugin.wasm"]
        assert tar.extractfile(members[0]).read() == harness.WASM.read_bytes()


def test_the_manifest_digest_is_what_docker_push_prints_and_the_manifests_want(pulled):
    digest = pulled["digest"]
    assert digest == "sha256:" + hashlib.sha256(pulled["manifest_bytes"]).hexdigest()
    assert digest in pulled["push"]


def agent_pull(pulled, sha256: str, workdir: Path) -> Path:
    """What istio-agent does with an oci:// code source: refuse an image whose digest is
    not `sha256`, else write the plugin.wasm of its last layer to a local file."""
    if pulled["digest"] != "sha256:" + sha256:
        raise ValueError(f"image digest {pulled['digest']} is not the configured sha256")
    layer = pulled["manifest"]["layers"][-1]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(pulled["blobs"][layer["digest"]]))) as tar:
        member = next(m for m in tar.getmembers() if Path(m.name).name == "plugin.wasm")
        path = workdir / (sha256 + ".wasm")
        path.write_bytes(tar.extractfile(member).read())
    return path


def sidecar_config(upstream_port: int, http_filter: dict, ecds: Path) -> dict:
    """An inbound listener shaped like a sidecar's: the HCM settings of the demo, the
    given filter first, then the router; its config discovery reads `ecds`."""
    cfg = harness.build_config(harness.demo_policy(), upstream_port, {})
    # Discovery needs a node identity; Istio's sidecars have one like this.
    cfg["node"] = {"id": "sidecar~10.0.0.7~webhook-receiver-1.webhooks~webhooks.svc.cluster.local",
                   "cluster": "webhook-receiver.webhooks"}
    http_filter = copy.deepcopy(http_filter)
    http_filter["config_discovery"]["config_source"].pop("ads")
    http_filter["config_discovery"]["config_source"]["path_config_source"] = {"path": str(ecds)}
    router = harness.hcm(cfg)["http_filters"][-1]
    harness.hcm(cfg)["http_filters"] = [http_filter, router]
    return cfg


@pytest.fixture(scope="module")
def istio_envoy(envoy_factory, pulled):
    workdir = harness.WORK / "istio" / "agent"
    workdir.mkdir(parents=True, exist_ok=True)
    extension = copy.deepcopy(EXTENSION)
    config = extension["typed_config"]["config"]
    # The deployer's step: the pushed image's reference and digest in the manifest.
    config["vm_config"]["code"]["remote"]["sha256"] = pulled["digest"].removeprefix("sha256:")
    # istio-agent's step: pull, check, and point the code at the local file.
    remote = config["vm_config"]["code"].pop("remote")
    config["vm_config"]["code"]["local"] = {"filename": str(agent_pull(pulled, remote["sha256"], workdir))}
    ecds = workdir / "ecds.yaml"
    ecds.write_text(yaml.safe_dump({"resources": [{
        "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig", **extension}]}))
    cfg = sidecar_config(envoy_factory.upstream.port, PATCHES["HTTP_FILTER"]["patch"]["value"], ecds)
    with harness.environment({"GITHUB_WEBHOOK_SECRET": SECRET}):
        return envoy_factory.start_config(cfg, name="istio-sidecar", secrets=[SECRET])


def test_the_agent_refuses_an_image_whose_digest_is_not_the_configured_one(pulled, tmp_path):
    with pytest.raises(ValueError):
        agent_pull(pulled, WASM_CONFIG["vm_config"]["code"]["remote"]["sha256"], tmp_path)


def test_the_sidecar_guards_with_the_delivered_plugin(istio_envoy, upstream):
    istio_envoy.wait_log(r"webhook-guard: configured 1 route", timeout=10)
    body = b'{"zen":"mesh"}'
    resp = harness.http1(istio_envoy.port, "POST", "/webhooks/github", signing.github(SECRET, body), body)
    assert resp.status == 200, resp
    [rec] = upstream.requests()
    assert rec.body == body and rec.header("x-webhook-guard") == "route=github"
    upstream.reset()
    for path, headers, status in [("/webhooks/github", [], 401), ("/elsewhere", [], 404)]:
        resp = harness.http1(istio_envoy.port, "POST", path, headers, body)
        assert resp.status == status, (path, resp)
    upstream.assert_nothing_reached()
    istio_envoy.assert_no_secret_in_log()


def test_the_sidecar_holds_the_headers_until_the_body_is_verified(istio_envoy, upstream):
    delivered.assert_holds_headers_until_the_body_is_verified(istio_envoy, upstream, SECRET)


def wasmplugin_as_istio_builds_it(pulled_file: Path) -> dict:
    """The Wasm filter config Istio makes of wasmplugin.yaml (after istio-agent fetched the
    code): name, root id, v8, env from the host, the pluginConfig as JSON, fail closed,
    and no allow_on_headers_stop_iteration, which the API cannot express."""
    spec = WASMPLUGIN["spec"]
    meta = WASMPLUGIN["metadata"]
    return {
        "name": f"{meta['namespace']}.{meta['name']}",
        "root_id": spec["pluginName"],
        "vm_config": {
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": str(pulled_file)}},
            "environment_variables": {"host_env_keys": [e["name"] for e in spec["vmConfig"]["env"]
                                                        if e["valueFrom"] == "HOST"]},
        },
        "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                          "value": json.dumps(spec["pluginConfig"])},
        "fail_open": spec["failStrategy"] != "FAIL_CLOSE",
    }


def gateway_policy_as_envoy_gateway_builds_it(pulled_file: Path) -> dict:
    """The Wasm filter config Envoy Gateway makes of the EnvoyExtensionPolicy (its
    translator sets name, root id, one VM per extension, v8, the code it serves, the
    config as JSON, fail_open and the host env keys; nothing else)."""
    [wasm] = GATEWAY_POLICY["spec"]["wasm"]
    return {
        "name": wasm["name"],
        "root_id": wasm["rootID"],
        "vm_config": {
            "vm_id": "envoyextensionpolicy/webhooks/webhook-guard/wasm/0",
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": str(pulled_file)}},
            "environment_variables": {"host_env_keys": wasm["env"]["hostKeys"]},
        },
        "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                          "value": json.dumps(wasm["config"])},
        "fail_open": wasm["failOpen"],
    }


@pytest.mark.parametrize("build", [wasmplugin_as_istio_builds_it, gateway_policy_as_envoy_gateway_builds_it],
                         ids=["istio-wasmplugin", "envoy-gateway-policy"])
def test_without_the_knob_body_checked_webhooks_are_never_answered(envoy_factory, pulled, upstream, build):
    workdir = harness.WORK / "istio" / build.__name__
    workdir.mkdir(parents=True, exist_ok=True)
    plugin_file = agent_pull(pulled, pulled["digest"].removeprefix("sha256:"), workdir)
    cfg = harness.build_config(harness.demo_policy(), envoy_factory.upstream.port, {})
    wasm_filter = next(f for f in harness.hcm(cfg)["http_filters"] if f["name"] == "webhook_guard")
    wasm_filter["typed_config"]["config"] = build(plugin_file)
    assert "allow_on_headers_stop_iteration" not in wasm_filter["typed_config"]["config"]
    with harness.environment({"GITHUB_WEBHOOK_SECRET": SECRET}):
        envoy = envoy_factory.start_config(cfg, name=build.__name__, secrets=[SECRET])
    envoy.wait_log(r"webhook-guard: configured 1 route", timeout=10)  # the configuration is accepted
    body = b'{"zen":"mesh"}'
    with pytest.raises(TimeoutError):
        harness.http1(envoy.port, "POST", "/webhooks/github", signing.github(SECRET, body), body, timeout=3)
    upstream.assert_nothing_reached()
