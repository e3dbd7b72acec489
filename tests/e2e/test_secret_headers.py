"""checks.headers, the secret custom header (SPEC 2, 3, 4): the right value passes and is
stripped before upstream (unless strip: false); a wrong, missing or repeated one gets
401 and the upstream sees nothing; rotation with two secrets and the per-secret metric;
the denial log line, without the secret."""

from __future__ import annotations

import pytest

import denials
import harness
from denials import UNAUTHORIZED

WAF = "waf-token-e2e-6b1f0c9a2d"
KEEP = "keep-token-e2e-3e8d77a1"
ROT_NEW = "partner-key-new-e2e-51c2"
ROT_OLD = "partner-key-old-e2e-a09e"
EXP_NEW = "expiring-new-e2e-7d7d01"
EXP_OLD = "expiring-old-e2e-c4c4f2"
KEY_A = "two-headers-a-e2e-1a1a"
KEY_B = "two-headers-b-e2e-2b2b"

ENV = {"WAF_TOKEN": WAF}


def route(name: str, prefix: str, headers: list[dict]) -> dict:
    return {"name": name, "match": {"path_prefix": prefix}, "checks": {"headers": headers}}


POLICY = {"api": "v1", "routes": [
    route("waf", "/hooks/waf", [{"name": "X-Waf-Token", "secrets": [{"id": "current", "env": "WAF_TOKEN"}]}]),
    route("keep", "/hooks/keep", [{"name": "x-waf-token", "secrets": [{"id": "current", "value": KEEP}],
                                   "strip": False}]),
    route("rotation", "/hooks/rotation", [{"name": "X-Partner-Key", "secrets": [
        {"id": "new", "value": ROT_NEW},
        {"id": "old", "value": ROT_OLD, "not_after": "2099-01-31T00:00:00Z"},
    ]}]),
    route("expired", "/hooks/expired", [{"name": "X-Partner-Key", "secrets": [
        {"id": "new", "value": EXP_NEW},
        {"id": "old", "value": EXP_OLD, "not_after": "2001-01-31T00:00:00Z"},
    ]}]),
    route("two", "/hooks/two", [
        {"name": "X-Key-A", "secrets": [{"id": "a", "value": KEY_A}]},
        {"name": "X-Key-B", "secrets": [{"id": "b", "value": KEY_B}]},
    ]),
]}

BODY = b'{"event":"invoice.paid","amount":1200}'


@pytest.fixture(scope="module")
def envoy(envoy_factory):
    return envoy_factory.start(POLICY, ENV, name="secret-headers", hcm_options=denials.HCM)


def post(envoy, path, headers=(), rid=None):
    headers = [("Content-Type", "application/json"), *headers]
    if rid:
        headers.append(("X-Request-Id", rid))
    return harness.http1(envoy.port, "POST", path, headers, BODY)


def refused(envoy, upstream, path, headers, route_name, reason):
    before = denials.counters(envoy, route_name + ".")
    rid = denials.request_id("hdr")
    resp = post(envoy, path, headers, rid)
    assert resp.status == 401, (resp.status, resp.body)
    assert resp.json() == UNAUTHORIZED
    upstream.assert_nothing_reached()
    assert denials.wait_counter_delta(envoy, route_name, before, {f"denied.{reason}": 1}) == {f"denied.{reason}": 1}
    return denials.assert_denial_logged(envoy, rid, route_name, reason)


# ---- accepted and stripped ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["X-Waf-Token", "x-waf-token", "X-WAF-TOKEN"])
def test_right_value_is_forwarded_and_the_secret_header_stripped(envoy, upstream, name):
    before = denials.counters(envoy, "waf.")
    resp = post(envoy, "/hooks/waf", [(name, WAF), ("X-Other", "kept")])
    assert resp.status == 200, (resp.status, resp.body)
    [rec] = upstream.requests()
    assert rec.body == BODY
    assert rec.header_values("x-waf-token") == []
    assert WAF not in repr(rec.headers)
    assert rec.header_values("x-other") == ["kept"]
    assert rec.header_values("x-webhook-guard") == ["route=waf"]
    # The upstream's own answer comes back.
    assert resp.json()["received"]["path"] == "/hooks/waf"
    moved = denials.wait_counter_delta(envoy, "waf", before, {"allowed": 1, "secret.current.matched": 1})
    assert moved == {"allowed": 1, "secret.current.matched": 1}


def test_secret_header_is_stripped_over_http2_too(envoy, upstream):
    resp = harness.http2(envoy.port, "POST", "/hooks/waf", [("x-waf-token", WAF)], BODY)
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.body == BODY
    assert rec.header_values("x-waf-token") == []
    assert WAF not in repr(rec.headers)


def test_strip_false_forwards_the_header(envoy, upstream):
    resp = post(envoy, "/hooks/keep", [("X-Waf-Token", KEEP)])
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.header_values("x-waf-token") == [KEEP]
    assert rec.header_values("x-webhook-guard") == ["route=keep"]


def test_strip_false_still_checks_the_value(envoy, upstream):
    refused(envoy, upstream, "/hooks/keep", [("X-Waf-Token", WAF)], "keep", "header_mismatch")


# ---- refused -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [WAF[:-1], WAF + "x", WAF.upper(), "x" + WAF, WAF[::-1], KEEP, "Bearer " + WAF],
                         ids=["truncated", "suffixed", "upper", "prefixed", "reversed", "other-routes-secret",
                              "bearer"])
def test_wrong_value_is_refused(envoy, upstream, value):
    line = refused(envoy, upstream, "/hooks/waf", [("X-Waf-Token", value)], "waf", "header_mismatch")
    assert value not in line


def test_empty_value_is_refused(envoy, upstream):
    resp = post(envoy, "/hooks/waf", [("X-Waf-Token", "")])
    assert resp.status == 401
    assert resp.json() == UNAUTHORIZED
    upstream.assert_nothing_reached()


def test_missing_header_is_refused(envoy, upstream):
    refused(envoy, upstream, "/hooks/waf", [("X-Other", WAF)], "waf", "header_missing")


@pytest.mark.parametrize("values", [[WAF, WAF], ["wrong", WAF], [WAF, "wrong"]],
                         ids=["both-right", "second-right", "first-right"])
def test_repeated_header_is_refused(envoy, upstream, values):
    """Ambiguous input is refused, even when every copy holds the secret."""
    refused(envoy, upstream, "/hooks/waf", [("X-Waf-Token", v) for v in values], "waf", "header_repeated")


def test_repeated_header_in_two_spellings_is_refused(envoy, upstream):
    refused(envoy, upstream, "/hooks/waf", [("X-Waf-Token", WAF), ("x-waf-token", WAF)], "waf", "header_repeated")


def test_every_listed_header_is_required(envoy, upstream):
    resp = post(envoy, "/hooks/two", [("X-Key-A", KEY_A), ("X-Key-B", KEY_B)])
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.header_values("x-key-a") == [] and rec.header_values("x-key-b") == []
    upstream.reset()
    refused(envoy, upstream, "/hooks/two", [("X-Key-A", KEY_A)], "two", "header_missing")
    refused(envoy, upstream, "/hooks/two", [("X-Key-A", KEY_A), ("X-Key-B", KEY_A)], "two", "header_mismatch")
    # Each header has its own secret: swapped values do not pass.
    refused(envoy, upstream, "/hooks/two", [("X-Key-A", KEY_B), ("X-Key-B", KEY_A)], "two", "header_mismatch")


# ---- rotation ------------------------------------------------------------------------------


@pytest.mark.parametrize("value,secret_id", [(ROT_NEW, "new"), (ROT_OLD, "old")])
def test_rotation_either_live_secret_is_accepted_and_counted(envoy, upstream, value, secret_id):
    before = denials.counters(envoy, "rotation.")
    resp = post(envoy, "/hooks/rotation", [("X-Partner-Key", value)])
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.header_values("x-partner-key") == []
    moved = denials.wait_counter_delta(envoy, "rotation", before, {"allowed": 1, f"secret.{secret_id}.matched": 1})
    assert moved == {"allowed": 1, f"secret.{secret_id}.matched": 1}


def test_rotation_secret_past_not_after_is_refused(envoy, upstream):
    refused(envoy, upstream, "/hooks/expired", [("X-Partner-Key", EXP_OLD)], "expired", "header_mismatch")
    assert envoy.counter("webhook_guard.expired.secret.old.matched") == 0
    resp = post(envoy, "/hooks/expired", [("X-Partner-Key", EXP_NEW)])
    assert resp.status == 200
    assert len(upstream.requests()) == 1


def test_no_secret_in_the_log(envoy):
    """Last: after every request above, at wasm debug level."""
    assert "header_mismatch" in envoy.log()
    envoy.assert_no_secret_in_log()
