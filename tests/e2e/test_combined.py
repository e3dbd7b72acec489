"""Order of checks and early refusal (SPEC 2.2, 3, 4): on a route that combines
ip_allowlist, headers, jwt and signature, everything right passes and each single
failure is refused with its own status and reason counter; with several failures the
first check in the order ip_allowlist, rate_limit, headers, jwt, signature decides; a
request failing a header-only check is answered at the header stage, before its body is
sent, and the upstream never sees its headers."""

from __future__ import annotations

import socket

import pytest

import denials
import harness
import signing
from denials import FORBIDDEN, UNAUTHORIZED, jwt, now

WAF = "combined-waf-token-e2e-90ab"
JWT_KEY = "combined-jwt-key-e2e-13f7c2"
GH = "combined-github-secret-e2e-5d5d"
ENV = {"WAF_TOKEN": WAF, "GH_SECRET": GH}

HEADER_CHECK = [{"name": "X-Waf-Token", "secrets": [{"id": "waf", "env": "WAF_TOKEN"}]}]
POLICY = {"api": "v1", "routes": [
    {"name": "all", "match": {"path_prefix": "/hooks/all"}, "checks": {
        "ip_allowlist": {"cidrs": ["127.0.0.1/32", "::1/128"]},
        "headers": HEADER_CHECK,
        "jwt": {"secrets": [{"id": "jwt", "value": JWT_KEY}], "issuer": "sender"},
        "signature": {"scheme": "github", "secrets": [{"id": "sig", "env": "GH_SECRET"}]},
    }},
    {"name": "order", "match": {"path_prefix": "/hooks/order"}, "checks": {
        "ip_allowlist": {"cidrs": ["127.0.0.1/32"]},
        "rate_limit": {"requests": 2, "per_seconds": 3600, "by": "route"},
        "headers": HEADER_CHECK,
    }},
]}

BODY = b'{"action":"opened","pull_request":{"number":7}}'
TAMPERED = BODY.replace(b"7", b"8")
SENT_TOKENS: list[str] = []


@pytest.fixture(scope="module")
def envoy(envoy_factory):
    return envoy_factory.start(POLICY, ENV, name="combined", hcm_options=denials.HCM)


def token(**overrides) -> str:
    c = {"iss": "sender", "exp": now() + 300}
    c.update(overrides)
    t = jwt({k: v for k, v in c.items() if v is not None}, JWT_KEY)
    SENT_TOKENS.append(t)
    return t


def good_headers(body: bytes = BODY) -> list[tuple[str, str]]:
    return [("Content-Type", "application/json"), ("X-Waf-Token", WAF), ("Authorization", f"Bearer {token()}"),
            *signing.github(GH, body)]


def replace(headers, name, value):
    """The headers with `name` set to `value` (None: removed)."""
    out = [(k, v) for k, v in headers if k.lower() != name.lower()]
    return out + ([(name, value)] if value is not None else [])


def post(envoy, path, headers, body=BODY, *, source=None, rid=None):
    headers = list(headers) + ([("X-Request-Id", rid)] if rid else [])
    return harness.http1_from(envoy.port, "POST", path, headers, body, source=source)


# ---- one route, every check ----------------------------------------------------------------


def test_everything_right_is_forwarded(envoy, upstream):
    before = denials.counters(envoy, "all.")
    headers = good_headers()
    resp = post(envoy, "/hooks/all", headers)
    assert resp.status == 200, (resp.status, resp.body)
    [rec] = upstream.requests()
    assert rec.body == BODY
    assert rec.header_values("x-waf-token") == []
    assert rec.header_values("authorization") == [dict(headers)["Authorization"]]
    assert rec.header_values("x-hub-signature-256") == [dict(headers)["X-Hub-Signature-256"]]
    assert rec.header_values("x-webhook-guard") == ["route=all"]
    expected = {"allowed": 1, "secret.waf.matched": 1, "secret.jwt.matched": 1, "secret.sig.matched": 1}
    assert denials.wait_counter_delta(envoy, "all", before, expected) == expected


SINGLE_FAILURES = [
    # (id, source, headers, body, status, reason)
    ("ip", "127.0.0.2", good_headers, BODY, 403, "ip_not_allowed"),
    ("header-missing", None, lambda: replace(good_headers(), "X-Waf-Token", None), BODY, 401, "header_missing"),
    ("header-wrong", None, lambda: replace(good_headers(), "X-Waf-Token", WAF + "0"), BODY, 401, "header_mismatch"),
    ("jwt-missing", None, lambda: replace(good_headers(), "Authorization", None), BODY, 401, "token_missing"),
    ("jwt-expired", None, lambda: replace(good_headers(), "Authorization", f"Bearer {token(exp=now() - 3600)}"),
     BODY, 401, "token_expired"),
    ("jwt-issuer", None, lambda: replace(good_headers(), "Authorization", f"Bearer {token(iss='other')}"),
     BODY, 401, "token_issuer_mismatch"),
    ("signature-missing", None, lambda: replace(good_headers(), "X-Hub-Signature-256", None), BODY, 401,
     "signature_missing"),
    ("signature-tampered-body", None, good_headers, TAMPERED, 401, "signature_mismatch"),
]


@pytest.mark.parametrize("source,headers,body,status,reason", [f[1:] for f in SINGLE_FAILURES],
                         ids=[f[0] for f in SINGLE_FAILURES])
def test_each_single_failure_is_refused_with_its_reason(envoy, upstream, source, headers, body, status, reason):
    before = denials.counters(envoy, "all.")
    rid = denials.request_id("all")
    resp = post(envoy, "/hooks/all", headers(), body, source=source, rid=rid)
    assert resp.status == status, (resp.status, resp.body)
    assert resp.json() == (FORBIDDEN if status == 403 else UNAUTHORIZED)
    upstream.assert_nothing_reached()
    # Only this reason moved: no `allowed`, and no secret counted for a refused request.
    assert denials.wait_counter_delta(envoy, "all", before, {f"denied.{reason}": 1}) == {f"denied.{reason}": 1}
    denials.assert_denial_logged(envoy, rid, "all", reason, source or "127.0.0.1")


ORDER = [
    # Everything wrong: the first check in the order decides.
    ("all-wrong", "127.0.0.2", [("X-Waf-Token", "nope"), ("Authorization", "Bearer x.y.z"),
                                ("X-Hub-Signature-256", "sha256=" + "0" * 64)], 403, "ip_not_allowed"),
    ("header-jwt-signature", None, [("X-Waf-Token", "nope"), ("Authorization", "Bearer x.y.z"),
                                    ("X-Hub-Signature-256", "sha256=" + "0" * 64)], 401, "header_mismatch"),
    ("jwt-signature", None, [("X-Waf-Token", WAF), ("Authorization", "Bearer x.y.z"),
                             ("X-Hub-Signature-256", "sha256=" + "0" * 64)], 401, "token_malformed"),
]


@pytest.mark.parametrize("source,headers,status,reason", [o[1:] for o in ORDER], ids=[o[0] for o in ORDER])
def test_first_failing_check_in_order_decides(envoy, upstream, source, headers, status, reason):
    before = denials.counters(envoy, "all.")
    rid = denials.request_id("order")
    resp = post(envoy, "/hooks/all", [("Content-Type", "application/json"), *headers], source=source, rid=rid)
    assert resp.status == status
    upstream.assert_nothing_reached()
    assert denials.wait_counter_delta(envoy, "all", before, {f"denied.{reason}": 1}) == {f"denied.{reason}": 1}
    denials.assert_denial_logged(envoy, rid, "all", reason, source or "127.0.0.1")


def test_ip_then_rate_limit_then_headers(envoy, upstream):
    """ip_allowlist runs before rate_limit (a refused address spends no token),
    rate_limit before headers (a wrong secret header does spend one, and once the
    bucket is empty even a wrong header gets 429)."""
    right = [("X-Waf-Token", WAF)]
    wrong = [("X-Waf-Token", "nope")]
    for _ in range(3):
        assert post(envoy, "/hooks/order", right, source="127.0.0.3").status == 403
    assert post(envoy, "/hooks/order", wrong).status == 401            # token 1 of 2
    assert post(envoy, "/hooks/order", right).status == 200            # token 2 of 2
    assert post(envoy, "/hooks/order", right).status == 429
    assert post(envoy, "/hooks/order", wrong).status == 429            # not 401: rate_limit came first
    assert post(envoy, "/hooks/order", wrong, source="127.0.0.3").status == 403  # ip still first
    assert len(upstream.requests()) == 1
    stats = envoy.stats("webhook_guard.order.")
    assert stats.get("webhook_guard.order.denied.ip_not_allowed") == 4
    assert stats.get("webhook_guard.order.denied.header_mismatch") == 1
    assert stats.get("webhook_guard.order.denied.rate_limited") == 2
    assert stats.get("webhook_guard.order.allowed") == 1


# ---- early refusal: answered before the body is sent ------------------------------------------


def send_head_only(envoy, headers, declared: int, source=None) -> socket.socket:
    """Send a request's headers declaring `declared` body bytes, and none of the body."""
    sock = harness.connect_from(envoy.port, source=source, timeout=3.0)
    head = harness._head("POST", "/hooks/all", list(headers) + [("Content-Length", str(declared))], "example.test")
    sock.sendall(head)
    return sock


EARLY = [
    ("ip", "127.0.0.2", good_headers, 403, "ip_not_allowed"),
    ("header", None, lambda: replace(good_headers(), "X-Waf-Token", "nope"), 401, "header_mismatch"),
    ("jwt", None, lambda: replace(good_headers(), "Authorization", f"Bearer {token(exp=now() - 3600)}"), 401,
     "token_expired"),
]


@pytest.mark.parametrize("source,headers,status,reason", [e[1:] for e in EARLY], ids=[e[0] for e in EARLY])
def test_header_stage_failure_is_answered_before_the_body_is_sent(envoy, upstream, source, headers, status, reason):
    before = denials.counters(envoy, "all.")
    sock = send_head_only(envoy, headers(), declared=len(BODY), source=source)
    try:
        # Not a byte of the body has been sent: the answer must come anyway.
        resp = harness.read_http1_response(sock)
    finally:
        sock.close()
    assert resp.status == status
    assert resp.json() == (FORBIDDEN if status == 403 else UNAUTHORIZED)
    upstream.assert_nothing_reached()
    assert denials.wait_counter_delta(envoy, "all", before, {f"denied.{reason}": 1}) == {f"denied.{reason}": 1}


def test_header_stage_failure_over_http2_is_answered_with_the_stream_open(envoy, upstream):
    headers = replace(good_headers(), "Authorization", f"Bearer {token(iss='other')}")
    resp = harness.http2(envoy.port, "POST", "/hooks/all", headers, BODY[:5], hold_open=True)
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_passing_headers_wait_for_the_body(envoy, upstream):
    """The control for the test above: with every header check right, the filter waits
    for the body (the signature needs it) and holds the headers meanwhile."""
    headers = good_headers()
    sock = send_head_only(envoy, headers, declared=len(BODY))
    try:
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            sock.recv(1)
        assert upstream.seen() == []
        sock.settimeout(3.0)
        sock.sendall(BODY)
        resp = harness.read_http1_response(sock)
    finally:
        sock.close()
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.body == BODY


def test_no_secret_token_or_signature_in_the_log(envoy):
    """Last: after every request above, at wasm debug level."""
    log = envoy.log()
    assert "ip_not_allowed" in log and "token_expired" in log
    envoy.assert_no_secret_in_log()
    assert len(SENT_TOKENS) > 10
    for t in SENT_TOKENS:
        assert t not in log
        assert t.rsplit(".", 1)[1] not in log
    assert signing.github(GH, BODY)[0][1].split("=", 1)[1] not in log
