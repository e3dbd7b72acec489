"""What every delivered webhook-guard filter must do, whichever control plane handed it
to Envoy (tests/e2e/test_istio.py, test_native_delivery.py): guard a route with a GitHub
signature, and hold a request's headers until its body is verified."""

from __future__ import annotations

import time

import harness
import signing


def assert_guards(envoy, upstream, secret: str, path: str = "/webhooks/github") -> None:
    """A signed webhook reaches the app with the verdict header; unsigned and wrongly
    signed ones are refused and reach nothing; the log holds no secret."""
    body = b'{"zen":"delivered"}'
    resp = harness.http1(envoy.port, "POST", path, signing.github(secret, body), body)
    assert resp.status == 200, resp
    [rec] = upstream.requests()
    assert rec.body == body and rec.header_values("x-webhook-guard") == ["route=github"]
    upstream.reset()
    for headers in ([], signing.github("not-the-secret", body)):
        resp = harness.http1(envoy.port, "POST", path, headers, body)
        assert resp.status == 401, resp
    upstream.assert_nothing_reached()
    envoy.assert_no_secret_in_log()


def assert_holds_headers_until_the_body_is_verified(envoy, upstream, secret: str) -> None:
    body = b'{"zen":"' + b"m" * 4000 + b'"}'
    with harness.Http1Upload(envoy.port, "/webhooks/github", signing.github(secret, body),
                             content_length=len(body)) as up:
        up.send(body[:1000])
        time.sleep(0.5)
        assert upstream.seen() == [], "headers reached the app before the body was verified"
        up.send(body[1000:])
        resp = up.response()
    assert resp.status == 200, resp
    [rec] = upstream.requests()
    assert rec.body == body
