"""mode: monitor (SPEC 1, 2): every check runs, failures are logged and counted, nothing
is blocked."""

from __future__ import annotations

import pytest

import harness
import signing

SECRET = "monitor-e2e-secret-4d3c2b"
POLICY = {
    "api": "v1",
    "mode": "monitor",
    "routes": [
        {"name": "github", "match": {"path_prefix": "/hooks/github"},
         "checks": {"signature": {"scheme": "github", "secrets": [{"id": "current", "env": "GH_SECRET"}]}}},
    ],
}
BODY = b'{"action":"created"}'


@pytest.fixture(scope="module")
def envoy(envoy_factory):
    return envoy_factory.start(POLICY, {"GH_SECRET": SECRET}, name="monitor")


def test_bad_signature_is_forwarded_and_counted(envoy, upstream):
    name = "webhook_guard.github.denied.signature_mismatch"
    before = envoy.counter(name)
    resp = harness.http1(envoy.port, "POST", "/hooks/github", signing.github("wrong-secret", BODY), BODY)
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.body == BODY
    # Whatever the verdict header says in monitor mode, it must not claim a clean pass.
    assert rec.header_values("x-webhook-guard") != ["route=github"]
    assert envoy.wait_counter(name, before + 1) == before + 1
    line = envoy.wait_log(r"signature_mismatch")
    assert "github" in line


def test_missing_signature_is_forwarded_and_counted(envoy, upstream):
    name = "webhook_guard.github.denied.signature_missing"
    before = envoy.counter(name)
    resp = harness.http1(envoy.port, "POST", "/hooks/github", [], BODY)
    assert resp.status == 200
    assert upstream.requests()[0].body == BODY
    assert envoy.wait_counter(name, before + 1) == before + 1


def test_good_signature_is_allowed_and_counted(envoy, upstream):
    before = envoy.counter("webhook_guard.github.allowed")
    resp = harness.http1(envoy.port, "POST", "/hooks/github", signing.github(SECRET, BODY), BODY)
    assert resp.status == 200
    assert upstream.requests()[0].header_values("x-webhook-guard") == ["route=github"]
    assert envoy.wait_counter("webhook_guard.github.allowed", before + 1) == before + 1


def test_client_verdict_header_removed_in_monitor_mode_too(envoy, upstream):
    resp = harness.http1(envoy.port, "POST", "/hooks/github", [("x-webhook-guard", "route=github"),
                                                                *signing.github("wrong-secret", BODY)], BODY)
    assert resp.status == 200
    assert upstream.requests()[0].header_values("x-webhook-guard") != ["route=github"]


def test_no_secret_in_the_log(envoy):
    envoy.assert_no_secret_in_log()
