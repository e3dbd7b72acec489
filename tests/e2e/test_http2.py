"""HTTP/2 (h2c, prior knowledge), with and without trailers. With trailers, the body
callback never sees end of stream: the plugin has to finish in the trailers callback
(the trap coraza-proxy-wasm documents), or the request hangs or slips through."""

from __future__ import annotations

import pytest

import harness
import signing

SECRET = "h2-e2e-secret-c0ffee11"
LIMIT = 256 * 1024

POLICY = {
    "api": "v1",
    "max_body_bytes": LIMIT,
    "routes": [
        {"name": "github", "match": {"path_prefix": "/hooks/github"},
         "checks": {"signature": {"scheme": "github", "secrets": [{"id": "current", "env": "GH_SECRET"}]}}},
    ],
}
PATH = "/hooks/github"
BODY = b'{"zen":"Keep it logically awesome.","hook_id":42}'
TRAILERS = [("x-checksum", "abc123")]


@pytest.fixture(scope="module")
def envoy(envoy_factory):
    return envoy_factory.start(POLICY, {"GH_SECRET": SECRET}, name="http2")


@pytest.mark.parametrize("trailers", [[], TRAILERS], ids=["no-trailers", "trailers"])
def test_signed_is_forwarded(envoy, upstream, trailers):
    resp = harness.http2(envoy.port, "POST", PATH, signing.github(SECRET, BODY), BODY, trailers=trailers)
    assert resp.status == 200, resp
    [rec] = upstream.requests()
    assert rec.body == BODY
    assert rec.header_values("x-webhook-guard") == ["route=github"]
    assert rec.header("x-hub-signature-256") == signing.github(SECRET, BODY)[0][1]


@pytest.mark.parametrize("trailers", [[], TRAILERS], ids=["no-trailers", "trailers"])
def test_tampered_is_refused(envoy, upstream, trailers):
    resp = harness.http2(envoy.port, "POST", PATH, signing.github(SECRET, BODY), BODY + b" ", trailers=trailers)
    assert resp.status == 401
    assert resp.json() == {"error": "unauthorized"}
    upstream.assert_nothing_reached()


@pytest.mark.parametrize("trailers", [[], TRAILERS], ids=["no-trailers", "trailers"])
def test_body_larger_than_a_flow_control_window(envoy, upstream, trailers):
    body = b"[" + b"1," * 100_000 + b"1]"
    resp = harness.http2(envoy.port, "POST", PATH, signing.github(SECRET, body), body, trailers=trailers, timeout=10)
    assert resp.status == 200
    assert upstream.requests()[0].body == body


@pytest.mark.parametrize("trailers", [[], TRAILERS], ids=["no-trailers", "trailers"])
def test_body_streaming_past_max_is_refused(envoy, upstream, trailers):
    body = b"x" * (LIMIT + 1)
    resp = harness.http2(envoy.port, "POST", PATH, signing.github(SECRET, body), body, trailers=trailers, timeout=10)
    assert resp.status == 413
    assert resp.json() == {"error": "payload_too_large"}
    upstream.assert_nothing_reached()


def test_declared_content_length_over_max_is_refused(envoy, upstream):
    headers = [*signing.github(SECRET, b"x"), ("content-length", str(LIMIT + 1))]
    # Headers and one byte, stream left open: the answer must not wait for the rest.
    resp = harness.http2(envoy.port, "POST", PATH, headers, b"{", hold_open=True, timeout=5)
    assert resp.status == 413
    upstream.assert_nothing_reached()


def test_headers_only_request_signed_over_empty_body(envoy, upstream):
    resp = harness.http2(envoy.port, "POST", PATH, signing.github(SECRET, b""), b"")
    assert resp.status == 200
    assert upstream.requests()[0].body == b""


def test_unsigned_with_trailers_is_refused(envoy, upstream):
    resp = harness.http2(envoy.port, "POST", PATH, [], BODY, trailers=TRAILERS)
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_no_secret_in_the_log(envoy):
    envoy.assert_no_secret_in_log()
