"""envoy/remote-code.yaml: Envoy fetches the plugin over HTTP (vm_config.code.remote) from
a server this test runs, and runs it only if its SHA-256 is the configured one. With the
built plugin's digest the example guards as the demo does; with any other digest (the
file's own placeholder, or the digest of another build) the plugin never loads and every
request is refused, none reaching the app."""

from __future__ import annotations

import copy
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import yaml

import harness
import signing

FILE = yaml.safe_load((harness.REPO / "envoy" / "remote-code.yaml").read_text())
PLUGIN = harness.wasm_plugin_config(FILE)
REMOTE = PLUGIN["vm_config"]["code"]["remote"]

pytestmark = pytest.mark.wasm_only(reason="Envoy fetching the Wasm code (vm_config.code.remote)")
SECRET = "remote-code-e2e-github-secret-6d"


class PluginServer:
    """Serves one file at one path, as a plugin server would, and counts the fetches."""

    def __init__(self, path: str, content: bytes):
        self.hits: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.hits.append((self.path, self.headers.get("Host")))
                body, status = (content, 200) if self.path == path else (b"not found", 404)
                self.send_response(status)
                self.send_header("Content-Type", "application/wasm")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def plugin_server():
    harness.require_wasm()
    server = PluginServer(urlsplit(REMOTE["http_uri"]["uri"]).path, harness.WASM.read_bytes())
    yield server
    server.stop()


def config(upstream_port: int, plugin_port: int, sha256: str | None) -> dict:
    """The example with test ports: the app cluster to the test upstream, the plugin
    server cluster to the test's server, and `sha256` (None: the file's own)."""
    cfg = copy.deepcopy(FILE)
    cfg["admin"]["address"]["socket_address"].update(address="127.0.0.1", port_value=0)
    cfg["static_resources"]["listeners"][0]["address"]["socket_address"].update(address="127.0.0.1", port_value=0)
    ports = {"demo_upstream": upstream_port, "plugin_server": plugin_port}
    for cluster in cfg["static_resources"]["clusters"]:
        cluster["type"] = "STATIC"
        for ep in cluster["load_assignment"]["endpoints"]:
            for lb in ep["lb_endpoints"]:
                lb["endpoint"]["address"]["socket_address"].update(address="127.0.0.1",
                                                                   port_value=ports[cluster["name"]])
    if sha256 is not None:
        harness.wasm_plugin_config(cfg)["vm_config"]["code"]["remote"]["sha256"] = sha256
    return cfg


def test_the_example_fetches_the_plugin_it_names_with_a_digest_and_fails_closed():
    assert REMOTE["http_uri"]["cluster"] == "plugin_server"
    assert len(REMOTE["sha256"]) == 64
    assert "local" not in PLUGIN["vm_config"]["code"]
    assert PLUGIN["fail_open"] is False and PLUGIN["allow_on_headers_stop_iteration"] is True


@pytest.fixture(scope="module")
def remote_envoy(envoy_factory, plugin_server):
    digest = hashlib.sha256(harness.WASM.read_bytes()).hexdigest()
    cfg = config(envoy_factory.upstream.port, plugin_server.port, digest)
    with harness.environment({"GITHUB_WEBHOOK_SECRET": SECRET}):
        return envoy_factory.start_config(cfg, name="remote-code", secrets=[SECRET])


def test_with_the_right_digest_the_fetched_plugin_guards(remote_envoy, plugin_server, upstream):
    assert (urlsplit(REMOTE["http_uri"]["uri"]).path, "plugins.internal") in plugin_server.hits
    body = b'{"zen":"remote code"}'
    resp = harness.http1(remote_envoy.port, "POST", "/webhooks/github", signing.github(SECRET, body), body)
    assert resp.status == 200, resp
    [rec] = upstream.requests()
    assert rec.body == body and rec.header("x-webhook-guard") == "route=github"
    upstream.reset()
    resp = harness.http1(remote_envoy.port, "POST", "/webhooks/github", [], body)
    assert (resp.status, resp.json()) == (401, {"error": "unauthorized"})
    upstream.assert_nothing_reached()
    remote_envoy.assert_no_secret_in_log()


@pytest.mark.parametrize("digest", ["placeholder", "another build"])
def test_with_a_wrong_digest_the_plugin_never_loads_and_traffic_stays_refused(envoy_factory, plugin_server, upstream,
                                                                             digest):
    sha = None if digest == "placeholder" else hashlib.sha256(harness.WASM.read_bytes() + b"\0").hexdigest()
    fetched = len(plugin_server.hits)
    cfg = config(envoy_factory.upstream.port, plugin_server.port, sha)
    with harness.environment({"GITHUB_WEBHOOK_SECRET": SECRET}):
        envoy = envoy_factory.start_config(cfg, name="remote-code-" + digest.replace(" ", "-"), secrets=[SECRET])
    envoy.wait_log(r"Plugin webhook_guard failed to load", timeout=30)
    assert len(plugin_server.hits) > fetched, "Envoy did fetch the code"
    assert "webhook-guard: configured" not in envoy.log(), "the plugin must not have started"
    body = b'{"zen":"remote code"}'
    for headers in ([], signing.github(SECRET, body)):
        resp = harness.http1(envoy.port, "POST", "/webhooks/github", headers, body)
        assert resp.status == 503, resp
    resp = harness.http1(envoy.port, "GET", "/anything")
    assert resp.status == 503, resp
    upstream.assert_nothing_reached()
