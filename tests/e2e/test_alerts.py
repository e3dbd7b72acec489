"""The Prometheus alert rules (deploy/prometheus/) and the Grafana dashboard
(deploy/grafana/) against what Envoy really exports: promtool checks and unit-tests the
rules, and every metric name and label the rules, their tests and the dashboard use must
appear in a scrape of a real Envoy running the plugin with the shipped stats tags."""

from __future__ import annotations

import json
import re
import time

import pytest
import yaml

import harness
import mock_api
import provider_signing as ps
import mtls
import prometheus
import signing

GITHUB_SECRET = "alerts-github-secret-6d0f1b"
OLD_SECRET = "alerts-old-github-secret-93ac"
OLD_NOT_AFTER = "2030-01-01T00:00:00Z"
OLD_NOT_AFTER_UNIX = 1893456000
TIMING = {"refresh_seconds": 10, "retry_seconds": 1, "timeout_ms": 500}

# One route per family of measure, so a single scrape holds every metric the plugin has.
POLICY = {"api": "v1", "max_body_bytes": 1024, "routes": [
    {"name": "github", "match": {"path_prefix": "/gh"}, "checks": {"signature": {
        "scheme": "github",
        "secrets": [{"id": "current", "env": "GH"},
                    {"id": "previous", "value": OLD_SECRET, "not_after": OLD_NOT_AFTER}],
        "dedupe": {"window_seconds": 600}}}},
    {"name": "partner", "match": {"path_prefix": "/partner"}, "checks": {
        "ip_allowlist": {"remote_list": mtls.remote_list("/ips", **TIMING)},
        "rate_limit": {"requests": 1, "per_seconds": 60, "by": "route"}}},
    {"name": "vendor", "match": {"path_prefix": "/vendor"}, "checks": {
        "ip_allowlist": {"remote_list": mtls.remote_list("/broken", **TIMING)}}},
    # Route names and secret ids that read like the lists' metrics still get their own labels.
    {"name": "list", "match": {"path_prefix": "/list"}, "checks": {
        "ip_allowlist": {"remote_list": mtls.remote_list("/ips", **TIMING)},
        "signature": {"scheme": "github", "secrets": [{"id": "ip_allowlist", "env": "GH"}]}}},
    # A list that logs in for its token, with a key the identity service refuses.
    {"name": "vault", "match": {"path_prefix": "/vault"}, "checks": {
        "ip_allowlist": {"remote_list": mtls.remote_list("/ips", **TIMING, login={
            "cluster": "copyleaks_id", "authority": mock_api.LOGIN_AUTHORITY, "path": mock_api.LOGIN_PATH,
            "body": {"email": {"value": "alerts@example.com"}, "key": {"env": "WRONG_KEY"}}, "timeout_ms": 500})}}},
    {"name": "zoom", "match": {"path_prefix": "/zoom"}, "checks": {
        "signature": {"scheme": "zoom", "secrets": [{"id": "current", "env": "GH"}]}}},
]}


@pytest.fixture(scope="module")
def api():
    api = mock_api.MockApi.start()
    api.answer("/ips", list=["127.0.0.1/32"])
    api.answer("/broken", status=500)
    yield api
    api.stop()


@pytest.fixture(scope="module")
def identity():
    """An identity service that refuses the key the `vault` route logs in with."""
    identity = mock_api.MockApi.start().identity({"email": "alerts@example.com", "key": "right"}, 3600)
    yield identity
    identity.stop()


@pytest.fixture(scope="module")
def observed(envoy_factory, api, identity) -> tuple[harness.Envoy, prometheus.Scrape]:
    """An Envoy that has seen every kind of event, and its scrape."""
    harness.require_wasm()
    env = {"GH": GITHUB_SECRET, "WRONG_KEY": "wrong-key-0b7d"}
    cfg = harness.build_config(POLICY, envoy_factory.upstream.port, env)
    cfg["static_resources"]["clusters"].append(mtls.api_cluster(api.port))
    cfg["static_resources"]["clusters"].append(mtls.api_cluster(identity.port, name="copyleaks_id"))
    envoy = envoy_factory.start_config(cfg, name="observed", secrets=harness.collect_secrets(POLICY, env))
    mtls.wait_for(lambda: envoy.counter("webhook_guard.list.partner.ip_allowlist.fetch_ok") >= 1, 5, "the ip list")
    mtls.wait_for(lambda: envoy.counter("webhook_guard.list.vendor.ip_allowlist.fetch_failed") >= 1, 5, "a failed fetch")
    mtls.wait_for(lambda: envoy.counter("webhook_guard.list.list.ip_allowlist.fetch_ok") >= 1, 5, "the list route's list")
    mtls.wait_for(lambda: envoy.counter("webhook_guard.list.vault.ip_allowlist.login_failed") >= 1, 5, "a failed login")
    time.sleep(1.2)  # every worker has read the list from shared data

    def post(path, headers=(), body=b"{}"):
        return harness.http1(envoy.port, "POST", path, list(headers), body).status

    a, b = b'{"delivery":"a"}', b'{"delivery":"b"}'
    assert post("/gh", signing.github(GITHUB_SECRET, a), a) == 200
    assert post("/gh", signing.github(OLD_SECRET, b), b) == 200
    assert post("/gh", signing.github(GITHUB_SECRET, a), a) == 200  # the replay: answered locally
    assert post("/gh") == 401
    assert post("/gh", body=b"x" * 2048) == 413
    assert post("/partner") == 200
    assert post("/partner") == 429
    assert post("/vendor") == 503
    assert post("/nowhere") == 404
    c = b'{"delivery":"c"}'
    assert post("/list", signing.github(GITHUB_SECRET, c), c) == 200
    challenge = json.dumps({"payload": {"plainToken": "tok-4d1e"}, "event": "endpoint.url_validation"}).encode()
    headers, challenge = ps.zoom(GITHUB_SECRET, challenge, ps.Ctx(path="/zoom", url=""))
    assert post("/zoom", headers, challenge) == 200
    envoy.wait_counter("webhook_guard.zoom.handshake", 1)
    envoy.wait_counter("webhook_guard.unmatched.denied.route_not_found", 1)
    return envoy, prometheus.scrape(envoy)


def test_one_scrape_holds_every_measure_with_its_labels(observed):
    envoy, s = observed
    assert s.value("webhook_guard_allowed", route="github") == 2
    assert s.value("webhook_guard_secret_matched", route="github", secret="current") == 1
    assert s.value("webhook_guard_secret_matched", route="github", secret="previous") == 1
    assert s.value("webhook_guard_secret_not_after_seconds", route="github", secret="previous") == OLD_NOT_AFTER_UNIX
    assert s.series("webhook_guard_secret_not_after_seconds") == [{"route": "github", "secret": "previous"}]
    assert s.value("webhook_guard_duplicate", route="github") == 1
    assert s.value("webhook_guard_denied", route="github", reason="signature_missing") == 1
    assert s.value("webhook_guard_denied", route="github", reason="payload_too_large") == 1
    assert s.value("webhook_guard_allowed", route="partner") == 1
    assert s.value("webhook_guard_denied", route="partner", reason="rate_limited") == 1
    assert s.value("webhook_guard_denied", route="vendor", reason="list_unavailable") == 1
    assert s.value("webhook_guard_denied", route="unmatched", reason="route_not_found") == 1
    ok, bad = "partner.ip_allowlist", "vendor.ip_allowlist"
    assert s.value("webhook_guard_list_fetch_ok", list=ok) >= 1
    assert s.value("webhook_guard_list_fetch_failed", list=ok) == 0
    assert s.value("webhook_guard_list_entries", list=ok) == 1
    assert 0 <= s.value("webhook_guard_list_age_seconds", list=ok) <= TIMING["refresh_seconds"] + 2
    assert s.value("webhook_guard_list_refresh_seconds", list=ok) == TIMING["refresh_seconds"]
    assert s.value("webhook_guard_list_max_stale_seconds", list=bad) > 0
    assert s.value("webhook_guard_list_fetch_ok", list=bad) == 0
    assert s.value("webhook_guard_list_fetch_failed", list=bad) >= 1
    assert s.value("webhook_guard_list_entries", list=bad) == 0
    # Never loaded: the Wasm edition has not defined the gauge yet; a dynamic module
    # defines its metrics when the configuration loads, so it reads 0 (no age alert
    # fires on either: they compare the age with the list's timing).
    never_loaded_age = 0 if harness.is_native() else None
    assert s.value("webhook_guard_list_age_seconds", list=bad) == never_loaded_age
    assert s.value("webhook_guard_allowed", route="list") == 1
    assert s.value("webhook_guard_secret_matched", route="list", secret="ip_allowlist") == 1
    assert s.value("webhook_guard_list_entries", list="list.ip_allowlist") == 1
    assert s.value("webhook_guard_handshake", route="zoom") == 1
    assert s.value("webhook_guard_list_login_failed", list="vault.ip_allowlist") >= 1
    assert s.value("webhook_guard_list_login_ok", list="vault.ip_allowlist") == 0
    assert s.value("webhook_guard_list_token_remaining_seconds", list="vault.ip_allowlist") == 0
    assert s.value("webhook_guard_list_fetch_ok", list="vault.ip_allowlist") == 0
    assert s.value("webhook_guard_allowed", route="zoom") == 0
    # Every series carries its labels: no route, secret id or list name is left in a name.
    assert {n for n in s.names() if n.startswith("webhook_guard")} == {
        "webhook_guard_allowed", "webhook_guard_denied", "webhook_guard_duplicate", "webhook_guard_handshake",
        "webhook_guard_secret_matched", "webhook_guard_secret_not_after_seconds",
        *(f"webhook_guard_list_{m}" for m in ("fetch_ok", "fetch_failed", "entries", "age_seconds",
                                              "refresh_seconds", "max_stale_seconds", "login_ok",
                                              "login_failed", "token_remaining_seconds"))}
    for name in ("webhook_guard_allowed", "webhook_guard_denied", "webhook_guard_list_fetch_failed"):
        assert s.types[name] == "counter"
    for name in ("webhook_guard_list_age_seconds", "webhook_guard_secret_not_after_seconds"):
        assert s.types[name] == "gauge"
    envoy.assert_no_secret_in_log(extra=["wrong-key-0b7d"])


# --------------------------------------------------------------------------------------
# The rules and the dashboard read only what the scrape has.


# The Wasm VM's own metrics (reloads, remote code fetches): the native edition runs no VM,
# and the rules and panels that read them stay empty there.
WASM_VM_METRIC = re.compile(r"^envoy_wasm_")


def assert_covered(s: prometheus.Scrape, where: str, expr: str):
    usage = prometheus.promql_usage(expr)
    assert usage.metrics, f"{where}: no metric found in {expr!r}"
    metrics = usage.metrics
    if harness.is_native():
        metrics = {m for m in metrics if not WASM_VM_METRIC.match(m)}
        if not metrics:
            return
    missing = metrics - s.names()
    assert not missing, f"{where}: {sorted(missing)} are not in a real scrape ({expr!r})"
    known = prometheus.target_labels().union(*(s.labels_of(m) for m in metrics))
    # `le` is the bucket label of a histogram's _bucket series.
    unknown = usage.labels - known
    assert not unknown, f"{where}: labels {sorted(unknown)} are on none of {sorted(metrics)} ({expr!r})"


def test_every_metric_and_label_of_the_rules_is_in_a_real_scrape(observed):
    _, s = observed
    rules = prometheus.rule_exprs(prometheus.load(prometheus.RULES))
    assert len(rules) >= 8
    for name, expr in rules:
        assert_covered(s, f"rule {name}", expr)


def test_every_metric_and_label_of_the_dashboard_is_in_a_real_scrape(observed):
    _, s = observed
    exprs = prometheus.dashboard_exprs(prometheus.load(prometheus.DASHBOARD))
    assert len(exprs) >= 15
    for title, expr in exprs:
        assert_covered(s, f"panel {title!r}", expr)


def test_the_rule_tests_feed_series_shaped_like_the_scrape(observed):
    _, s = observed
    tests = prometheus.load(prometheus.RULES_TEST)
    seen = set()
    for t in tests["tests"]:
        for series in t["input_series"]:
            m = re.fullmatch(r"(\w+)\{(.*)\}", series["series"])
            name, labels = m.group(1), set(re.findall(r'(\w+)="', m.group(2)))
            seen.add(name)
            if harness.is_native() and WASM_VM_METRIC.match(name):
                continue
            assert name in s.names(), f"{name} is not in a real scrape"
            assert labels - prometheus.target_labels() == s.labels_of(name), (name, labels, s.labels_of(name))
            assert prometheus.target_labels() <= labels, f"{series['series']}: no instance/job, unlike a scrape"
    # Every metric a rule reads is fed by some test.
    used = set().union(*(prometheus.promql_usage(e).metrics for _, e in prometheus.rule_exprs(
        prometheus.load(prometheus.RULES))))
    assert used <= seen, sorted(used - seen)


# --------------------------------------------------------------------------------------
# promtool.


def test_promtool_checks_the_rules():
    out = prometheus.run_promtool("check", "rules", str(prometheus.RULES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_promtool_unit_tests_pass():
    out = prometheus.run_promtool("test", "rules", str(prometheus.RULES_TEST))
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_is_tested_and_has_a_runbook_line():
    rules = prometheus.load(prometheus.RULES)
    tests = prometheus.load(prometheus.RULES_TEST)
    tested = {a["alertname"] for t in tests["tests"] for a in t.get("alert_rule_test", []) if a.get("exp_alerts")}
    for group in rules["groups"]:
        for rule in group["rules"]:
            name = rule["alert"]
            assert name in tested, f"{name}: no promtool test sees it fire"
            # The runbook link is relative to the repository: the page it names must
            # have a section of that name (alert names are their own anchors).
            page, anchor = rule["annotations"]["runbook"].split("#", 1)
            assert page == "docs/operations.md", f"{name}: runbook {page}, not docs/operations.md"
            text = (harness.REPO / page).read_text()
            headings = {h.strip().lower() for h in re.findall(r"^#+ (.+)$", text, re.M)}
            assert anchor in headings, f"{name}: {page} has no section #{anchor}"


def test_the_dashboard_is_valid_grafana_json():
    d = prometheus.load(prometheus.DASHBOARD)
    assert d["uid"] == "webhook-guard" and d["schemaVersion"] >= 36
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    names = {v["name"] for v in d["templating"]["list"]}
    assert names == {"datasource", "route"}
    for p in d["panels"]:
        if p["type"] != "row":
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
            assert p["targets"], p["title"]
    text = prometheus.DASHBOARD.read_text()
    assert yaml.safe_load(text) == d  # plain JSON, nothing Grafana-export specific (no __inputs)
