"""The body (SPEC 2, 2.2, 3): max_body_bytes answered with 413 on the declared length and
on a chunked body that streams past it; bodies that arrive in pieces are verified whole;
nothing of a refused request reaches the app."""

from __future__ import annotations

import time

import pytest

import harness
import signing

SECRET = "body-e2e-secret-5e6f7a"
LIMIT = 4096

POLICY = {
    "api": "v1",
    "max_body_bytes": LIMIT,
    "routes": [
        {"name": "github", "match": {"path_prefix": "/hooks/github"},
         "checks": {"signature": {"scheme": "github", "secrets": [{"id": "current", "env": "GH_SECRET"}]}}},
    ],
}
PATH = "/hooks/github"


@pytest.fixture(scope="module")
def envoy(envoy_factory):
    return envoy_factory.start(POLICY, {"GH_SECRET": SECRET}, name="body")


def body_of(n: int) -> bytes:
    return (b'{"pad":"' + b"a" * n)[:n]


TOO_LARGE = "webhook_guard.github.denied.payload_too_large"


def test_declared_length_over_max_is_refused_before_the_body(envoy, upstream):
    before = envoy.counter(TOO_LARGE)
    # Only the headers and one byte are sent: the answer must not wait for the rest.
    resp = harness.http1_declared_only(envoy.port, PATH, signing.github(SECRET, b"x"), LIMIT + 1, send=b"{")
    assert resp.status == 413
    assert resp.json() == {"error": "payload_too_large"}
    upstream.assert_nothing_reached()
    assert envoy.wait_counter(TOO_LARGE, before + 1) == before + 1


def test_declared_length_far_over_max_is_refused(envoy, upstream):
    resp = harness.http1_declared_only(envoy.port, PATH, [], 10 * 1024 * 1024 * 1024)
    assert resp.status == 413
    upstream.assert_nothing_reached()


def test_chunked_body_streaming_past_max_is_refused(envoy, upstream):
    before = envoy.counter(TOO_LARGE)
    chunks = [b"b" * 1000] * 8  # 8000 bytes, no length declared
    resp = harness.http1_chunked(envoy.port, PATH, signing.github(SECRET, b"".join(chunks)), chunks, delay=0.02)
    assert resp.status == 413
    assert resp.json() == {"error": "payload_too_large"}
    upstream.assert_nothing_reached()
    assert envoy.wait_counter(TOO_LARGE, before + 1) == before + 1


def test_chunked_body_one_byte_past_max_is_refused(envoy, upstream):
    body = body_of(LIMIT + 1)
    resp = harness.http1_chunked(envoy.port, PATH, signing.github(SECRET, body), [body[:LIMIT], body[LIMIT:]], delay=0.02)
    assert resp.status == 413
    upstream.assert_nothing_reached()


def test_chunked_body_is_verified_whole_and_forwarded(envoy, upstream):
    body = body_of(3000)
    chunks = [body[i:i + 700] for i in range(0, len(body), 700)]
    resp = harness.http1_chunked(envoy.port, PATH, signing.github(SECRET, body), chunks, delay=0.02)
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.body == body
    assert rec.header("x-webhook-guard") == "route=github"


def test_chunked_body_tampered_in_a_later_chunk_is_refused(envoy, upstream):
    body = body_of(3000)
    chunks = [body[:1500], body[1500:-1] + b"!"]
    resp = harness.http1_chunked(envoy.port, PATH, signing.github(SECRET, body), chunks, delay=0.02)
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_body_of_exactly_max_is_accepted(envoy, upstream):
    body = body_of(LIMIT)
    resp = harness.http1(envoy.port, "POST", PATH, signing.github(SECRET, body), body)
    assert resp.status == 200
    assert upstream.requests()[0].body == body


def test_content_length_body_arriving_slowly_is_verified_whole(envoy, upstream):
    body = body_of(2500)
    resp = harness.http1_pieces(envoy.port, PATH, signing.github(SECRET, body), [body[:1000], body[1000:2000], body[2000:]])
    assert resp.status == 200
    assert upstream.requests()[0].body == body


def test_content_length_body_tampered_in_a_later_piece_is_refused(envoy, upstream):
    body = body_of(2500)
    resp = harness.http1_pieces(envoy.port, PATH, signing.github(SECRET, body), [body[:1000], body[1000:2499] + b"!"])
    assert resp.status == 401
    upstream.assert_nothing_reached()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_headers_are_held_until_the_body_is_verified(envoy, upstream, framing):
    """allow_on_headers_stop_iteration at work: while the body is on its way, the app
    has not even seen the headers; they go up only with the verified body."""
    body = body_of(3000)
    length = len(body) if framing == "content-length" else None
    with harness.Http1Upload(envoy.port, PATH, signing.github(SECRET, body), content_length=length) as up:
        up.send(body[:1000])
        time.sleep(0.3)
        upstream.assert_nothing_reached()
        up.send(body[1000:])
        resp = up.response()
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.body == body
    assert len(upstream.seen()) == 1


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_tampered_body_arriving_late_never_lets_headers_through(envoy, upstream, framing):
    body = body_of(3000)
    length = len(body) if framing == "content-length" else None
    with harness.Http1Upload(envoy.port, PATH, signing.github(SECRET, body), content_length=length) as up:
        up.send(body[:1000])
        time.sleep(0.3)
        up.send(body[1000:-1] + b"?")
        resp = up.response()
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_empty_body_signed_is_accepted(envoy, upstream):
    resp = harness.http1(envoy.port, "POST", PATH, signing.github(SECRET, b""), b"")
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.body == b""


def test_binary_body_is_forwarded_byte_for_byte(envoy, upstream):
    body = bytes(range(256)) * 4
    resp = harness.http1(envoy.port, "POST", PATH, signing.github(SECRET, body), body)
    assert resp.status == 200
    assert upstream.requests()[0].body == body


def test_no_secret_in_the_log(envoy):
    envoy.assert_no_secret_in_log()
