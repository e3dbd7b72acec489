"""Routing and the verdict header (SPEC 2 match, unmatched; 3): 404 and 405 answers,
unmatched allow, the x-webhook-guard header only the filter may set, and Envoy's path
normalisation closing the //double-slash and dot-segment detours around a route."""

from __future__ import annotations

import pytest

import harness
import signing

SECRET = "routing-e2e-secret-9c8b7a"
ENV = {"GH_SECRET": SECRET}
SIG = {"signature": {"scheme": "github", "secrets": [{"id": "current", "env": "GH_SECRET"}]}}


def policy(unmatched: str) -> dict:
    return {
        "api": "v1",
        "unmatched": unmatched,
        "routes": [
            {"name": "github", "match": {"path_prefix": "/webhooks/github"}, "checks": SIG},
            {"name": "exact", "match": {"path_exact": "/hooks/exact", "methods": ["POST", "PUT"]}, "checks": SIG},
            {"name": "hosted", "match": {"path_prefix": "/hosted", "host": "hooks.example.test"}, "checks": SIG},
        ],
    }


@pytest.fixture(scope="module")
def deny(envoy_factory):
    return envoy_factory.start(policy("deny"), ENV, name="unmatched-deny")


@pytest.fixture(scope="module")
def allow(envoy_factory):
    return envoy_factory.start(policy("allow"), ENV, name="unmatched-allow")


BODY = b'{"ref":"refs/heads/main"}'


def signed(body=BODY):
    return [("Content-Type", "application/json"), *signing.github(SECRET, body)]


def sum_counters(envoy, pattern: str) -> int:
    import re
    rx = re.compile(pattern)
    return sum(v for k, v in envoy.stats().items() if rx.fullmatch(k))


# ---- unmatched: deny ---------------------------------------------------------------


def test_unmatched_path_is_not_found(deny, upstream):
    before = sum_counters(deny, r"webhook_guard\..*\.denied\.route_not_found")
    resp = harness.http1(deny.port, "POST", "/somewhere/else", signed(), BODY)
    assert resp.status == 404
    assert resp.json() == {"error": "not_found"}
    assert resp.header("content-type") == "application/json"
    upstream.assert_nothing_reached()
    harness.wait_until(lambda: sum_counters(deny, r"webhook_guard\..*\.denied\.route_not_found") > before, 3,
                       what="route_not_found counter")


def test_get_on_a_post_route_is_405_with_allow(deny, upstream):
    before = sum_counters(deny, r"webhook_guard\..*\.denied\.method_not_allowed")
    resp = harness.http1(deny.port, "GET", "/webhooks/github", signed(b""))
    assert resp.status == 405
    assert resp.json() == {"error": "method_not_allowed"}
    assert [m.strip() for m in resp.header("allow").split(",")] == ["POST"]
    upstream.assert_nothing_reached()
    harness.wait_until(lambda: sum_counters(deny, r"webhook_guard\..*\.denied\.method_not_allowed") > before, 3,
                       what="method_not_allowed counter")


def test_405_allow_lists_every_method_of_the_route(deny, upstream):
    resp = harness.http1(deny.port, "DELETE", "/hooks/exact")
    assert resp.status == 405
    assert sorted(m.strip() for m in resp.header("allow").split(",")) == ["POST", "PUT"]
    upstream.assert_nothing_reached()


def test_other_allowed_method_is_checked_and_forwarded(deny, upstream):
    resp = harness.http1(deny.port, "PUT", "/hooks/exact", signed(), BODY)
    assert resp.status == 200
    assert upstream.requests()[0].method == "PUT"


def test_path_exact_ignores_the_query_string(deny, upstream):
    resp = harness.http1(deny.port, "POST", "/hooks/exact?delivery=1", signed(), BODY)
    assert resp.status == 200
    assert upstream.requests()[0].path == "/hooks/exact?delivery=1"


def test_path_exact_does_not_match_a_longer_path(deny, upstream):
    resp = harness.http1(deny.port, "POST", "/hooks/exact/more", signed(), BODY)
    assert resp.status == 404
    upstream.assert_nothing_reached()


def test_host_match(deny, upstream):
    resp = harness.http1(deny.port, "POST", "/hosted", [("Host", "hooks.example.test"), *signing.github(SECRET, BODY)], BODY)
    assert resp.status == 200
    resp = harness.http1(deny.port, "POST", "/hosted", [("Host", "other.example.test"), *signing.github(SECRET, BODY)], BODY)
    assert resp.status == 404
    assert len(upstream.requests()) == 1


def test_verdict_header_replaces_the_clients(deny, upstream):
    headers = [("X-Webhook-Guard", "route=admin"), *signed(), ("x-webhook-guard", "trusted")]
    resp = harness.http1(deny.port, "POST", "/webhooks/github", headers, BODY)
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.header_values("x-webhook-guard") == ["route=github"]


def test_signed_prefix_route_forwards_the_full_path(deny, upstream):
    resp = harness.http1(deny.port, "POST", "/webhooks/github/org/repo?x=1", signed(), BODY)
    assert resp.status == 200
    assert upstream.requests()[0].path == "/webhooks/github/org/repo?x=1"


# ---- unmatched: allow --------------------------------------------------------------


def test_unmatched_allow_forwards_without_a_verdict(allow, upstream):
    resp = harness.http1(allow.port, "POST", "/public/ping", [("x-webhook-guard", "route=github")], b"ping")
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.body == b"ping"
    # The client cannot make the app believe this was verified.
    assert "route=github" not in rec.header_values("x-webhook-guard")


def test_unmatched_allow_still_enforces_routes(allow, upstream):
    resp = harness.http1(allow.port, "POST", "/webhooks/github", [("Content-Type", "application/json")], BODY)
    assert resp.status == 401
    upstream.assert_nothing_reached()


@pytest.mark.parametrize("path", [
    "//webhooks/github",
    "/webhooks//github",
    "/webhooks/./github",
    "/public/../webhooks/github",
    "/webhooks/github/",
])
def test_path_tricks_do_not_bypass_a_route(allow, upstream, path):
    """normalize_path and merge_slashes in the HCM make these the protected path."""
    resp = harness.http1(allow.port, "POST", path, [("Content-Type", "application/json")], BODY)
    assert resp.status == 401, path
    upstream.assert_nothing_reached()


def test_unmatched_allow_get_on_route_path_still_405(allow, upstream):
    resp = harness.http1(allow.port, "GET", "/webhooks/github")
    assert resp.status == 405
    upstream.assert_nothing_reached()


def test_no_secret_in_the_logs(deny, allow):
    deny.assert_no_secret_in_log()
    allow.assert_no_secret_in_log()
