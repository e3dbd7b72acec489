"""What an operator sees: labelled Prometheus metrics on /stats/prometheus (the stats tags
that envoy/envoy.yaml, envoy/copyleaks.yaml, the snippets of docs/ and
deploy/istio/webhook-guard-stats.yaml ship), and the verdict in Envoy's JSON access log
(filter state the plugin sets: route, outcome, reason, secret)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

import harness
import prometheus
import signing

DEMO = harness.load_demo_config()
ENV = harness.demo_env(DEMO)
POLICY = harness.demo_policy(DEMO)
GITHUB_SECRET = ENV["GITHUB_WEBHOOK_SECRET"]
ISTIO_STATS = harness.REPO / "deploy" / "istio" / "webhook-guard-stats.yaml"
DOCS = sorted((harness.REPO / "docs").glob("*.md"))


def access_log(envoy: harness.Envoy) -> list[dict]:
    """The JSON access log lines Envoy wrote (stdout, in the test's envoy.log)."""
    out = []
    for line in envoy.log().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def access_log_entry(envoy: harness.Envoy, request_id: str, timeout: float = 10.0) -> dict:
    """The access log line of one request. Envoy flushes its access log about once a
    second, so wait for it."""

    def find():
        for entry in access_log(envoy):
            if entry.get("request_id") == request_id:
                return entry
        return None

    return harness.wait_until(find, timeout, interval=0.1, what=f"access log line of request {request_id}")


def denial_request_id(envoy: harness.Envoy, pattern: str) -> str:
    """The request id in the plugin's warn line for a denial matching `pattern`."""
    line = envoy.wait_log(pattern)
    return re.search(r"request_id=([^\s:]+)", line).group(1)


# --------------------------------------------------------------------------------------
# The shipped stats tags are one set, wherever they are written.


def stats_tags(cfg: dict) -> list[dict]:
    return cfg["stats_config"]["stats_tags"]


def docs_block(*keys: str) -> dict:
    """The one copy-paste yaml block of docs/ that sets all these keys."""
    blocks = [b for page in DOCS for b in re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S)]
    [block] = [b for b in blocks if all(f"\n{k}:" in "\n" + b for k in keys)]
    return yaml.safe_load(block)


def istio_custom_bootstrap() -> dict:
    cm = yaml.safe_load(ISTIO_STATS.read_text())
    assert cm["kind"] == "ConfigMap"
    return json.loads(cm["data"]["custom_bootstrap.json"])


EXAMPLES = sorted((harness.REPO / "envoy").glob("*.yaml"))


def test_every_example_ships_the_same_stats_tags():
    tags = stats_tags(DEMO)
    assert [t["tag_name"] for t in tags] == ["route", "reason", "secret", "list"]
    assert len(EXAMPLES) >= 3
    for path in EXAMPLES:
        assert stats_tags(yaml.safe_load(path.read_text())) == tags, path.name
    assert stats_tags(docs_block("stats_config")) == tags
    assert stats_tags(istio_custom_bootstrap()) == tags


def test_every_example_ships_the_verdict_in_a_json_access_log():
    snippet = docs_block("access_log", "http_filters")
    for hcm in [harness.hcm(yaml.safe_load(p.read_text())) for p in EXAMPLES] + [snippet]:
        [log] = hcm["access_log"]
        fmt = log["typed_config"]["log_format"]["json_format"]
        for key in ("route", "outcome", "reason", "secret"):
            assert fmt[key] == f"%FILTER_STATE(wasm.webhook_guard.{key}:PLAIN)%"
        for key in ("request_id", "status", "duration_ms", "client"):
            assert key in fmt
        # Nothing that can carry a secret: no header but the request id, no query string.
        text = json.dumps(fmt)
        assert re.findall(r"%REQ\(([^)]*)\)%", text) == ["X-REQUEST-ID", ":METHOD"]
        assert "%REQ_WITHOUT_QUERY(:PATH)%" in text


# --------------------------------------------------------------------------------------
# envoy/envoy.yaml as shipped.


@pytest.fixture(scope="module")
def demo(envoy_factory):
    harness.require_wasm()
    cfg = harness.for_test(DEMO, envoy_factory.upstream.port)
    return envoy_factory.start_config(cfg, name="demo", secrets=harness.collect_secrets(POLICY, ENV))


def send_github(envoy: harness.Envoy, signed: bool, body: bytes = b'{"action":"opened"}') -> harness.Response:
    headers = [("Content-Type", "application/json")]
    if signed:
        headers += signing.github(GITHUB_SECRET, body)
    return harness.http1(envoy.port, "POST", "/webhooks/github?state=x", headers, body)


def test_a_signed_and_an_unsigned_request_give_labelled_series(demo, upstream):
    assert send_github(demo, signed=True).status == 200
    assert send_github(demo, signed=False).status == 401
    assert len(upstream.requests()) == 1
    demo.wait_counter("webhook_guard.github.denied.signature_missing", 1)
    s = prometheus.scrape(demo)
    assert s.value("webhook_guard_allowed", route="github") == 1
    assert s.value("webhook_guard_denied", route="github", reason="signature_missing") == 1
    assert s.value("webhook_guard_secret_matched", route="github", secret="current") == 1
    for route in ("stripe", "standard"):
        assert s.value("webhook_guard_allowed", route=route) == 0
        assert s.value("webhook_guard_secret_matched", route=route, secret="current") == 0
    assert s.types["webhook_guard_allowed"] == "counter"
    # One name per measure: no route, reason or secret id left in a metric name.
    ours = {n for n in s.names() if n.startswith("webhook_guard")}
    assert ours == {"webhook_guard_allowed", "webhook_guard_denied", "webhook_guard_secret_matched"}
    # /stats keeps the plain dotted names.
    assert demo.counter("webhook_guard.github.denied.signature_missing") == 1
    assert demo.counter("webhook_guard.github.allowed") == 1


def test_the_refused_request_is_explained_in_the_access_log(demo, upstream):
    body = b'{"action":"closed"}'
    bad = [("Content-Type", "application/json"), ("X-Hub-Signature-256", "sha256=" + "ab" * 32)]
    resp = harness.http1(demo.port, "POST", "/webhooks/github?token=query-secret-77f1", bad, body)
    assert resp.status == 401
    upstream.assert_nothing_reached()
    request_id = denial_request_id(demo, r"denied route=github reason=signature_mismatch")
    entry = access_log_entry(demo, request_id)
    assert entry["route"] == "github"
    assert entry["outcome"] == "denied"
    assert entry["reason"] == "signature_mismatch"
    assert entry["secret"] is None
    assert entry["status"] == 401
    assert entry["client"] == "127.0.0.1"
    assert entry["method"] == "POST" and entry["path"] == "/webhooks/github"
    assert isinstance(entry["duration_ms"], int)
    line = json.dumps(entry)
    for leak in ("ab" * 32, "query-secret-77f1", GITHUB_SECRET):
        assert leak not in line
    demo.assert_no_secret_in_log(extra=["ab" * 32, "query-secret-77f1"])


def test_the_forwarded_request_names_the_secret_that_matched(demo, upstream):
    resp = send_github(demo, signed=True, body=b'{"action":"reopened"}')
    assert resp.status == 200
    [rec] = upstream.requests()
    entry = access_log_entry(demo, rec.header("x-request-id"))
    assert (entry["route"], entry["outcome"], entry["reason"], entry["secret"]) == ("github", "allowed", None, "current")
    assert entry["status"] == 200
    signature = signing.github(GITHUB_SECRET, b'{"action":"reopened"}')[0][1]
    assert signature not in json.dumps(access_log(demo))


def test_a_request_no_route_covers_is_logged_as_unmatched(demo, upstream):
    assert harness.http1(demo.port, "POST", "/nowhere", [], b"{}").status == 404
    request_id = denial_request_id(demo, r"denied route=unmatched reason=route_not_found")
    entry = access_log_entry(demo, request_id)
    assert (entry["route"], entry["outcome"], entry["reason"], entry["status"]) == (
        "unmatched", "denied", "route_not_found", 404)
    s = prometheus.scrape(demo)
    assert s.value("webhook_guard_denied", route="unmatched", reason="route_not_found") >= 1


# --------------------------------------------------------------------------------------
# Outcomes other than allowed and denied, on a policy of the test's own.


def test_monitor_mode_logs_would_deny_with_every_reason(envoy_factory, upstream):
    policy = {"api": "v1", "mode": "monitor", "routes": [{
        "name": "hooks", "match": {"path_prefix": "/hooks"},
        "checks": {"ip_allowlist": {"cidrs": ["192.0.2.0/24"]},
                   "signature": {"scheme": "github", "secrets": [{"id": "current", "env": "S"}]}}}]}
    envoy = envoy_factory.start(policy, {"S": "monitor-secret-0c11"}, name="monitor")
    resp = harness.http1(envoy.port, "POST", "/hooks", [], b"{}")
    assert resp.status == 200
    [rec] = upstream.requests()
    entry = access_log_entry(envoy, rec.header("x-request-id"))
    assert entry["route"] == "hooks" and entry["outcome"] == "would_deny"
    assert entry["reason"] == "ip_not_allowed,signature_missing"
    s = prometheus.scrape(envoy)
    assert s.value("webhook_guard_denied", route="hooks", reason="ip_not_allowed") == 1
    assert s.value("webhook_guard_denied", route="hooks", reason="signature_missing") == 1
    assert s.value("webhook_guard_allowed", route="hooks") == 0


def test_a_replayed_message_is_logged_as_duplicate(envoy_factory, upstream):
    secret = "dedupe-secret-5e2a"
    policy = {"api": "v1", "routes": [{
        "name": "gh", "match": {"path_prefix": "/gh"},
        "checks": {"signature": {"scheme": "github", "secrets": [{"id": "current", "env": "S"}],
                                 "dedupe": {"window_seconds": 600}}}}]}
    envoy = envoy_factory.start(policy, {"S": secret}, name="dedupe")
    body = b'{"delivery":1}'
    headers = signing.github(secret, body)
    assert harness.http1(envoy.port, "POST", "/gh", headers, body).status == 200
    again = harness.http1(envoy.port, "POST", "/gh", headers, body)
    assert again.status == 200 and again.json() == {"status": "duplicate"}
    assert len(upstream.requests()) == 1
    line = envoy.wait_log(r"webhook-guard duplicate route=gh")
    request_id = re.search(r"request_id=([^\s:]+)", line).group(1)
    entry = access_log_entry(envoy, request_id)
    assert (entry["route"], entry["outcome"], entry["reason"], entry["status"]) == ("gh", "duplicate", None, 200)
    s = prometheus.scrape(envoy)
    assert s.value("webhook_guard_duplicate", route="gh") == 1
    assert s.value("webhook_guard_allowed", route="gh") == 1


# --------------------------------------------------------------------------------------
# Istio: the ConfigMap's custom bootstrap, merged the way pilot-agent does (--config-yaml).


def test_the_istio_custom_bootstrap_labels_the_metrics(envoy_factory, upstream):
    cfg = harness.for_test(DEMO, envoy_factory.upstream.port)
    del cfg["stats_config"]  # a sidecar's own bootstrap has none of our tags
    custom = istio_custom_bootstrap()
    envoy = envoy_factory.start_config(cfg, name="istio-bootstrap", secrets=harness.collect_secrets(POLICY, ENV),
                                       extra_args=["--config-yaml", json.dumps(custom)])
    assert send_github(envoy, signed=False).status == 401
    envoy.wait_counter("webhook_guard.github.denied.signature_missing", 1)
    s = prometheus.scrape(envoy)
    assert s.value("webhook_guard_denied", route="github", reason="signature_missing") == 1
    assert s.value("webhook_guard_allowed", route="github") == 0
