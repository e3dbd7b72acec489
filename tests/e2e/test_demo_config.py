"""envoy/envoy.yaml, the config `make run` and docker-compose.yml use, loaded as it is
(only ports and the plugin path rewritten), so the demo cannot rot."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

import harness
import signing

DEMO = harness.load_demo_config()
ENV = harness.demo_env(DEMO)
POLICY = harness.demo_policy(DEMO)


@pytest.fixture(scope="module")
def demo_envoy(envoy_factory):
    cfg = harness.for_test(DEMO, envoy_factory.upstream.port)
    harness.require_wasm()
    return envoy_factory.start_config(cfg, name="demo", secrets=harness.collect_secrets(POLICY, ENV))


def test_demo_config_has_the_settings_the_filter_needs():
    hcm = harness.hcm(DEMO)
    assert hcm["use_remote_address"] is True
    assert hcm["xff_num_trusted_hops"] == 0
    assert hcm["normalize_path"] is True and hcm["merge_slashes"] is True
    names = [f["name"] for f in hcm["http_filters"]]
    assert names.index("webhook_guard") < names.index("envoy.filters.http.router")
    plugin = harness.wasm_plugin_config(DEMO)
    assert plugin["allow_on_headers_stop_iteration"] is True
    assert plugin["fail_open"] is False
    assert plugin["vm_config"]["code"]["local"]["filename"] == "target/webhook_guard.wasm"
    listener = DEMO["static_resources"]["listeners"][0]
    assert listener["per_connection_buffer_limit_bytes"] > POLICY["max_body_bytes"]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 10000}
    assert DEMO["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9901}
    assert [r["name"] for r in POLICY["routes"]] == ["github", "stripe", "standard"]
    assert POLICY["unmatched"] == "deny" and POLICY["mode"] == "enforce"


def test_signed_github_webhook_reaches_the_app(demo_envoy, upstream):
    body = json.dumps({"action": "opened", "number": 1}).encode()
    sig = signing.github(ENV["GITHUB_WEBHOOK_SECRET"], body)
    headers = [("Content-Type", "application/json"), ("X-GitHub-Event", "pull_request"), *sig]
    resp = harness.http1(demo_envoy.port, "POST", "/webhooks/github", headers, body)
    assert resp.status == 200, resp
    # The app's echo comes back to the sender.
    assert resp.json()["received"]["path"] == "/webhooks/github"
    [rec] = upstream.requests()
    assert rec.method == "POST" and rec.path == "/webhooks/github"
    assert rec.body == body
    assert rec.header_values("x-webhook-guard") == ["route=github"]
    assert rec.header("x-hub-signature-256") == sig[0][1]
    assert rec.header("x-github-event") == "pull_request"


def test_unsigned_github_webhook_is_refused_and_never_reaches_the_app(demo_envoy, upstream):
    resp = harness.http1(demo_envoy.port, "POST", "/webhooks/github", [("Content-Type", "application/json")], b'{"a":1}')
    assert resp.status == 401
    assert resp.json() == {"error": "unauthorized"}
    upstream.assert_nothing_reached()


def test_signed_stripe_webhook_reaches_the_app(demo_envoy, upstream):
    body = b'{"id":"evt_1","type":"payment_intent.succeeded"}'
    resp = harness.http1(demo_envoy.port, "POST", "/webhooks/stripe",
                         [("Content-Type", "application/json"), *signing.stripe(ENV["STRIPE_WEBHOOK_SECRET"], body)], body)
    assert resp.status == 200, resp
    [rec] = upstream.requests()
    assert rec.body == body and rec.header("x-webhook-guard") == "route=stripe"


def test_signed_standard_webhook_reaches_the_app(demo_envoy, upstream):
    body = b'{"type":"user.created"}'
    resp = harness.http1(demo_envoy.port, "POST", "/webhooks/standard",
                         [("Content-Type", "application/json"), *signing.standard(ENV["STANDARD_WEBHOOK_SECRET"], body)], body)
    assert resp.status == 200, resp
    [rec] = upstream.requests()
    assert rec.body == body and rec.header("x-webhook-guard") == "route=standard"


def test_wrong_secret_is_refused(demo_envoy, upstream):
    body = b'{"type":"user.created"}'
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    resp = harness.http1(demo_envoy.port, "POST", "/webhooks/standard", signing.standard(other, body), body)
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_unknown_path_is_not_found(demo_envoy, upstream):
    resp = harness.http1(demo_envoy.port, "POST", "/admin", [], b"{}")
    assert resp.status == 404
    assert resp.json() == {"error": "not_found"}
    upstream.assert_nothing_reached()


def test_body_over_one_mib_gets_the_plugins_413_not_envoys(demo_envoy, upstream):
    """per_connection_buffer_limit_bytes is above max_body_bytes, so the JSON 413 is the
    plugin's answer, given on the declared length before any body is buffered."""
    limit = POLICY["max_body_bytes"]
    resp = harness.http1_declared_only(demo_envoy.port, "/webhooks/github", [("Content-Type", "application/json")],
                                       limit + 1, send=b"{")
    assert resp.status == 413
    assert resp.json() == {"error": "payload_too_large"}
    upstream.assert_nothing_reached()


def test_body_of_exactly_max_body_bytes_is_verified_and_forwarded(demo_envoy, upstream):
    body = b"x" * POLICY["max_body_bytes"]
    resp = harness.http1(demo_envoy.port, "POST", "/webhooks/github",
                         signing.github(ENV["GITHUB_WEBHOOK_SECRET"], body), body, timeout=15)
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.body == body


SEND = harness.REPO / "demo" / "send-webhook.sh"


@pytest.mark.skipif(not shutil.which("curl") or not shutil.which("openssl"), reason="demo/send-webhook.sh needs curl and openssl")
@pytest.mark.parametrize("scheme", ["github", "stripe", "standard"])
@pytest.mark.parametrize("tamper", [False, True], ids=["signed", "tampered"])
def test_send_webhook_script_against_the_demo(demo_envoy, upstream, scheme, tamper):
    """The script the quickstart tells people to run signs the way the plugin verifies,
    with the secrets that envoy.yaml holds (its defaults must match them)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_WEBHOOK_SECRET")}
    env["URL"] = f"http://127.0.0.1:{demo_envoy.port}"
    if tamper:
        env["TAMPER"] = "1"
    out = subprocess.run(["bash", str(SEND), scheme], capture_output=True, text=True, env=env, timeout=20)
    assert out.returncode == 0, out.stderr
    status = int(out.stdout.split()[1])
    if tamper:
        assert status == 401
        upstream.assert_nothing_reached()
    else:
        assert status == 200, out.stdout
        [rec] = upstream.requests()
        assert rec.header("x-webhook-guard") == f"route={scheme}"
        assert json.loads(rec.body)["event"] == "demo"


def test_demo_metrics(demo_envoy):
    assert demo_envoy.wait_counter("webhook_guard.github.allowed", 2) >= 2
    assert demo_envoy.counter("webhook_guard.github.denied.signature_missing") >= 1
    assert demo_envoy.counter("webhook_guard.github.secret.current.matched") >= 2


def test_demo_log_holds_no_secret(demo_envoy):
    demo_envoy.assert_no_secret_in_log()
