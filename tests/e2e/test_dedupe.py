"""signature.dedupe, replay protection (SPEC 2.4): a message already delivered upstream
with a 2xx inside the window is answered 200 {"status":"duplicate"} locally and not
forwarded again; after an upstream failure the provider's retry goes through; the id is
the scheme's (webhook-id for Standard Webhooks, X-GitHub-Delivery for GitHub). Every
delivery is a new connection, so the deliveries of one message land on different
workers: what one worker recorded, the others must see."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest

import denials
import harness
import signing

STANDARD = "whsec_" + base64.b64encode(b"dedupe e2e standard key 0123456789ab").decode()
GH = "dedupe-e2e-github-secret-77c1"
MAILGUN = "dedupe-e2e-mailgun-key-41b9"
ENV = {"STANDARD_SECRET": STANDARD, "GH_SECRET": GH, "MAILGUN_KEY": MAILGUN}

POLICY = {"api": "v1", "routes": [
    {"name": "standard", "match": {"path_prefix": "/hooks/standard"},
     "checks": {"signature": {"scheme": "standard", "secrets": [{"id": "current", "env": "STANDARD_SECRET"}],
                              "dedupe": {"window_seconds": 600}}}},
    {"name": "github", "match": {"path_prefix": "/hooks/github"},
     "checks": {"signature": {"scheme": "github", "secrets": [{"id": "current", "env": "GH_SECRET"}],
                              "dedupe": {"window_seconds": 600}}}},
    {"name": "mailgun", "match": {"path_prefix": "/hooks/mailgun"},
     "checks": {"signature": {"scheme": "mailgun", "secrets": [{"id": "current", "env": "MAILGUN_KEY"}],
                              "dedupe": {"window_seconds": 600}}}},
    # Same scheme and secret, no dedupe: the control.
    {"name": "plain", "match": {"path_prefix": "/hooks/plain"},
     "checks": {"signature": {"scheme": "standard", "secrets": [{"id": "current", "env": "STANDARD_SECRET"}]}}},
]}

DUPLICATE = {"status": "duplicate"}


@pytest.fixture(scope="module")
def envoy(envoy_factory):
    return envoy_factory.start(POLICY, ENV, name="dedupe", concurrency=2, hcm_options=denials.HCM)


def msg_id() -> str:
    return "msg_" + uuid.uuid4().hex


def body_for(mid: str, attempt: int = 1) -> bytes:
    return json.dumps({"type": "invoice.paid", "id": mid, "attempt": attempt}).encode()


def deliver_standard(envoy, mid: str, body: bytes | None = None, path: str = "/hooks/standard", **kw):
    body = body if body is not None else body_for(mid)
    headers = [("Content-Type", "application/json"), *signing.standard(STANDARD, body, msg_id=mid, **kw)]
    return harness.http1(envoy.port, "POST", path, headers, body), body


def deliver_github(envoy, delivery: str, body: bytes):
    headers = [("Content-Type", "application/json"), ("X-GitHub-Event", "push"), ("X-GitHub-Delivery", delivery),
               *signing.github(GH, body)]
    return harness.http1(envoy.port, "POST", "/hooks/github", headers, body)


def assert_duplicate(resp):
    assert resp.status == 200, (resp.status, resp.body)
    assert resp.json() == DUPLICATE
    assert resp.header("content-type") == "application/json"


def ids_received(upstream, header="webhook-id"):
    return [r.header(header) for r in upstream.requests()]


# ---- Standard Webhooks: webhook-id -------------------------------------------------------


def test_same_message_twice_is_forwarded_once(envoy, upstream):
    mid = msg_id()
    resp, body = deliver_standard(envoy, mid)
    assert resp.status == 200
    assert resp.json()["received"]["body"] == body.decode()  # the upstream's own answer
    resp, _ = deliver_standard(envoy, mid, body)
    assert_duplicate(resp)
    [rec] = upstream.requests()
    assert rec.body == body and rec.header("webhook-id") == mid
    # Only the first delivery's headers ever reached the app.
    assert len(upstream.seen()) == 1


def test_message_delivered_many_times_reaches_the_app_once(envoy, upstream):
    """Twelve deliveries on twelve connections, spread over both workers; counted as one
    delivery (`allowed`) and eleven `duplicate`s."""
    before = denials.counters(envoy, "standard.")
    workers_before = harness.worker_connections(envoy)
    mid = msg_id()
    responses = [deliver_standard(envoy, mid)[0] for _ in range(12)]
    assert responses[0].status == 200 and "received" in responses[0].json()
    for resp in responses[1:]:
        assert_duplicate(resp)
    assert ids_received(upstream) == [mid]
    expected = {"allowed": 1, "secret.current.matched": 1, "duplicate": 11}
    assert denials.wait_counter_delta(envoy, "standard", before, expected) == expected
    workers = harness.worker_connections(envoy)
    assert len([w for w, n in workers.items() if n > workers_before.get(w, 0)]) == 2, workers


def test_retry_resigned_with_a_new_timestamp_is_a_duplicate(envoy, upstream):
    """Providers re-sign each attempt (new timestamp, new signature), same id."""
    mid = msg_id()
    body = body_for(mid)
    assert deliver_standard(envoy, mid, body, timestamp=signing.now() - 120)[0].status == 200
    resp, _ = deliver_standard(envoy, mid, body, timestamp=signing.now())
    assert_duplicate(resp)
    assert ids_received(upstream) == [mid]


@pytest.mark.parametrize("failure", [500, 503, 429, 400])
def test_retry_after_an_upstream_failure_goes_through(envoy, upstream, failure):
    mid = msg_id()
    upstream.next_status(failure)
    resp, body = deliver_standard(envoy, mid)
    assert resp.status == failure  # the provider sees the failure and will retry
    # The retry is delivered, this time with success...
    resp, _ = deliver_standard(envoy, mid, body)
    assert resp.status == 200 and "received" in resp.json()
    # ...and only after that success is the message a duplicate.
    resp, _ = deliver_standard(envoy, mid, body)
    assert_duplicate(resp)
    assert ids_received(upstream) == [mid, mid]


def test_two_failures_then_success(envoy, upstream):
    mid = msg_id()
    upstream.next_status(502, count=2)
    assert deliver_standard(envoy, mid)[0].status == 502
    assert deliver_standard(envoy, mid)[0].status == 502
    assert deliver_standard(envoy, mid)[0].status == 200
    assert_duplicate(deliver_standard(envoy, mid)[0])
    assert ids_received(upstream) == [mid] * 3


def test_different_ids_are_all_forwarded(envoy, upstream):
    mids = [msg_id() for _ in range(3)]
    body = b'{"type":"same.body"}'
    for mid in mids:
        resp, _ = deliver_standard(envoy, mid, body)
        assert resp.status == 200 and "received" in resp.json()
    assert ids_received(upstream) == mids


def test_replayed_id_with_a_bad_signature_is_refused_not_answered_duplicate(envoy, upstream):
    """Only a verified message may learn that it is a duplicate."""
    mid = msg_id()
    body = body_for(mid)
    assert deliver_standard(envoy, mid, body)[0].status == 200
    upstream.reset()
    headers = [(k, v) for k, v in signing.standard(STANDARD, body, msg_id=mid)]
    resp = harness.http1(envoy.port, "POST", "/hooks/standard", headers, body + b" ")
    assert resp.status == 401
    assert resp.json() == {"error": "unauthorized"}
    forged = signing.standard("whsec_" + base64.b64encode(b"some other key").decode(), body, msg_id=mid)
    resp = harness.http1(envoy.port, "POST", "/hooks/standard", forged, body)
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_without_dedupe_every_delivery_is_forwarded(envoy, upstream):
    mid = msg_id()
    for _ in range(2):
        resp, _ = deliver_standard(envoy, mid, path="/hooks/plain")
        assert resp.status == 200 and "received" in resp.json()
    assert ids_received(upstream) == [mid, mid]


def test_same_id_on_another_route_is_not_a_duplicate(envoy, upstream):
    """The memory is per route: a message id delivered on /hooks/standard says nothing
    about another route's messages (here GitHub with the same string as delivery id)."""
    mid = msg_id()
    assert deliver_standard(envoy, mid)[0].status == 200
    resp = deliver_github(envoy, mid, b'{"ref":"refs/heads/main"}')
    assert resp.status == 200 and "received" in resp.json()
    assert len(upstream.requests()) == 2


# ---- GitHub: X-GitHub-Delivery ----------------------------------------------------------------


def test_github_redelivery_is_keyed_on_the_delivery_id(envoy, upstream):
    delivery = str(uuid.uuid4())
    body = b'{"ref":"refs/heads/main","after":"c0ffee"}'
    resp = deliver_github(envoy, delivery, body)
    assert resp.status == 200 and "received" in resp.json()
    assert_duplicate(deliver_github(envoy, delivery, body))
    # The same delivery id with another (correctly signed) body is still that delivery.
    assert_duplicate(deliver_github(envoy, delivery, body.replace(b"c0ffee", b"decaf0")))
    assert ids_received(upstream, "x-github-delivery") == [delivery]


def test_github_same_body_under_two_delivery_ids_is_forwarded_twice(envoy, upstream):
    body = b'{"ref":"refs/heads/main","after":"abc123"}'
    deliveries = [str(uuid.uuid4()), str(uuid.uuid4())]
    for d in deliveries:
        resp = deliver_github(envoy, d, body)
        assert resp.status == 200 and "received" in resp.json()
    assert ids_received(upstream, "x-github-delivery") == deliveries


def test_github_retry_after_failure_goes_through(envoy, upstream):
    delivery = str(uuid.uuid4())
    body = b'{"zen":"Keep it logically awesome."}'
    upstream.next_status(500)
    assert deliver_github(envoy, delivery, body).status == 500
    assert deliver_github(envoy, delivery, body).status == 200
    assert_duplicate(deliver_github(envoy, delivery, body))
    assert ids_received(upstream, "x-github-delivery") == [delivery, delivery]


# ---- Mailgun: the signed token, in the body --------------------------------------------------


def mailgun_event(token: str, key: str = MAILGUN, event: str = "delivered") -> bytes:
    ts = str(int(time.time()))
    sig = hmac.new(key.encode(), (ts + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps({"signature": {"timestamp": ts, "token": token, "signature": sig},
                       "event-data": {"event": event}}).encode()


def deliver_mailgun(envoy, body: bytes):
    return harness.http1(envoy.port, "POST", "/hooks/mailgun", [("Content-Type", "application/json")], body)


def test_mailgun_redelivery_is_keyed_on_the_signed_token(envoy, upstream):
    token = uuid.uuid4().hex + uuid.uuid4().hex[:18]
    assert deliver_mailgun(envoy, mailgun_event(token)).status == 200
    # Mailgun's retry signs the same token again (a new timestamp would do too).
    assert_duplicate(deliver_mailgun(envoy, mailgun_event(token, event="delivered")))
    assert deliver_mailgun(envoy, mailgun_event(uuid.uuid4().hex)).status == 200
    tokens = [json.loads(r.body)["signature"]["token"] for r in upstream.requests()]
    assert tokens[0] == token and len(tokens) == 2
    # A forged event reusing a delivered token learns nothing: refused, not "duplicate".
    forged = deliver_mailgun(envoy, mailgun_event(token, key="not-the-key"))
    assert forged.status == 401
    assert len(upstream.requests()) == 2


def test_no_secret_in_the_log(envoy):
    assert "duplicate" in envoy.log()
    envoy.assert_no_secret_in_log()
