"""developer_payload (SPEC 1, 2, 3): Copyleaks echoes the secret `developerPayload`
(set at submit time) at the top level of every webhook body. The filter buffers the
body, reads that field strictly and forwards the body untouched, or refuses it.

Routes: `payload` (the secret compared; a current and a previous secret), `bound`
(bound_to /scannedDocument/scanId: the payload must be hex(HMAC-SHA256(secret, scanId)))."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

import harness
import mtls

PAYLOAD = "cl-devpayload-e2e-6f1d2a9b3c"
PREVIOUS = "cl-devpayload-e2e-previous-40aa"
BIND_KEY = "cl-bind-key-e2e-93e1c07d55"
ENV = {"CL_PAYLOAD": PAYLOAD, "CL_BIND_KEY": BIND_KEY}

POLICY = {"api": "v1", "unmatched": "deny", "max_body_bytes": 65536, "routes": [
    {"name": "payload", "match": {"path_prefix": "/webhooks/copyleaks/"},
     "checks": {"developer_payload": {"secrets": [
         {"id": "current", "env": "CL_PAYLOAD"},
         {"id": "previous", "value": PREVIOUS, "not_after": "2099-01-01T00:00:00Z"}]}}},
    {"name": "bound", "match": {"path_prefix": "/webhooks/bound/"},
     "checks": {"developer_payload": {"pointer": "/developerPayload", "bound_to": "/scannedDocument/scanId",
                                      "secrets": [{"id": "bind", "env": "CL_BIND_KEY"}]}}},
]}

SCAN = "essay-2026-11-20-0001"
OTHER_SCAN = "essay-2026-11-20-0002"
JSON_CT = [("Content-Type", "application/json")]


def bound_payload(scan_id: str, key: str = BIND_KEY) -> str:
    return hmac.new(key.encode(), scan_id.encode(), hashlib.sha256).hexdigest()


@pytest.fixture(scope="module")
def guard(envoy_factory):
    return envoy_factory.start(POLICY, ENV, name="payload")


def post(envoy, path: str, body: bytes, headers=JSON_CT) -> harness.Response:
    return harness.http1(envoy.port, "POST", path, list(headers), body)


def assert_forwarded(resp, upstream, body: bytes, route: str) -> None:
    assert resp.status == 200, resp
    [rec] = upstream.requests()
    assert rec.body == body, "the body must reach the app byte for byte"
    assert rec.header_values("x-webhook-guard") == [f"route={route}"]
    assert rec.header("content-type") == "application/json"


def assert_unauthorized(resp, upstream) -> None:
    assert resp.status == 401, resp
    assert resp.json() == {"error": "unauthorized"}
    upstream.assert_nothing_reached()


def test_right_payload_is_forwarded_with_the_body_unchanged(guard, upstream):
    body = mtls.body_of(mtls.completed_webhook(SCAN, PAYLOAD))
    before = guard.counter("webhook_guard.payload.secret.current.matched")
    resp = post(guard, f"/webhooks/copyleaks/completed/{SCAN}", body)
    assert_forwarded(resp, upstream, body, "payload")
    [rec] = upstream.requests()
    assert rec.path == f"/webhooks/copyleaks/completed/{SCAN}"
    assert json.loads(rec.body)["scannedDocument"]["metadata"]["filename"] == "essay-résumé.docx"
    assert guard.wait_counter("webhook_guard.payload.secret.current.matched", before + 1) == before + 1


def test_previous_secret_still_verifies_and_is_counted_apart(guard, upstream):
    body = mtls.body_of(mtls.completed_webhook(SCAN, PREVIOUS))
    before = guard.counter("webhook_guard.payload.secret.previous.matched")
    assert_forwarded(post(guard, f"/webhooks/copyleaks/completed/{SCAN}", body), upstream, body, "payload")
    assert guard.wait_counter("webhook_guard.payload.secret.previous.matched", before + 1) == before + 1


def test_pretty_printed_body_with_escapes_is_the_same_payload(guard, upstream):
    """Whitespace and a JSON escape in the payload: the app decodes the same string, so
    it verifies; the bytes forwarded are exactly the bytes sent."""
    escaped = "\\u0063" + PAYLOAD[1:]  # \u0063 is 'c'
    body = ('{\n  "status": 0,\n  "developerPayload" : "%s",\n  "scannedDocument": {"scanId": "%s"}\n}\n'
            % (escaped, SCAN)).encode()
    assert_forwarded(post(guard, "/webhooks/copyleaks/completed/x", body), upstream, body, "payload")


def test_body_sent_in_chunks_is_verified_whole(guard, upstream):
    body = mtls.body_of(mtls.completed_webhook(SCAN, PAYLOAD))
    chunks = [body[:17], body[17:40], body[40:]]
    resp = harness.http1_chunked(guard.port, "/webhooks/copyleaks/completed/x", JSON_CT, chunks, delay=0.02)
    assert_forwarded(resp, upstream, body, "payload")


BAD_BODIES = {
    "wrong": (mtls.body_of(mtls.completed_webhook(SCAN, "cl-devpayload-e2e-WRONG")), "payload_mismatch"),
    "secret_as_prefix": (mtls.body_of(mtls.completed_webhook(SCAN, PAYLOAD + "x")), "payload_mismatch"),
    "missing": (mtls.body_of(mtls.completed_webhook(SCAN, include_payload=False)), "payload_missing"),
    # Where the submit request had it (properties.developerPayload), not where the
    # webhook carries it.
    "nested_only": (json.dumps({"status": 0, "properties": {"developerPayload": PAYLOAD}}).encode(), "payload_missing"),
    "number": (mtls.body_of(mtls.completed_webhook(SCAN, 12345)), "payload_missing"),
    "null": (mtls.body_of(mtls.completed_webhook(SCAN, None)), "payload_missing"),
    "not_json": (b"developerPayload=" + PAYLOAD.encode(), "payload_not_json"),
    "truncated_json": (mtls.body_of(mtls.completed_webhook(SCAN, PAYLOAD))[:-1], "payload_not_json"),
    "trailing_garbage": (mtls.body_of(mtls.completed_webhook(SCAN, PAYLOAD)) + b"}", "payload_not_json"),
    "empty": (b"", "payload_not_json"),
    # Two developerPayload members: the filter would read one, the app maybe the other.
    "duplicate_right_first": (('{"developerPayload":"%s","status":0,"developerPayload":"forged"}' % PAYLOAD).encode(),
                              "payload_duplicate_key"),
    "duplicate_right_last": (('{"developerPayload":"forged","status":0,"developerPayload":"%s"}' % PAYLOAD).encode(),
                             "payload_duplicate_key"),
    # A member that case-insensitive binders (.NET, Go) take for developerPayload.
    "case_variant": (('{"developerPayload":"%s","DeveloperPayload":"forged"}' % PAYLOAD).encode(),
                     "payload_duplicate_key"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_payload_is_refused_and_the_app_sees_nothing(guard, upstream, case):
    body, reason = BAD_BODIES[case]
    metric = f"webhook_guard.payload.denied.{reason}"
    before = guard.counter(metric)
    assert_unauthorized(post(guard, "/webhooks/copyleaks/completed/x", body), upstream)
    assert guard.wait_counter(metric, before + 1) == before + 1
    line = guard.wait_log(rf"denied route=payload reason={reason} ")
    assert "client=127.0.0.1" in line


def test_bound_payload_for_this_scan_is_accepted(guard, upstream):
    for payload in (bound_payload(SCAN), bound_payload(SCAN).upper()):
        upstream.reset()
        body = mtls.body_of(mtls.completed_webhook(SCAN, payload))
        assert_forwarded(post(guard, f"/webhooks/bound/completed/{SCAN}", body), upstream, body, "bound")
    assert guard.counter("webhook_guard.bound.secret.bind.matched") >= 2


@pytest.mark.parametrize("payload,reason", [
    (bound_payload(OTHER_SCAN), "payload_mismatch"),           # leaked from another scan
    (bound_payload(SCAN, "another-key-entirely"), "payload_mismatch"),
    (BIND_KEY, "payload_mismatch"),                            # the key itself is not a payload
    (bound_payload(SCAN)[:-2], "payload_mismatch"),            # truncated MAC
], ids=["other_scan", "other_key", "the_key_itself", "truncated"])
def test_bound_payload_from_elsewhere_is_refused(guard, upstream, payload, reason):
    body = mtls.body_of(mtls.completed_webhook(SCAN, payload))
    before = guard.counter(f"webhook_guard.bound.denied.{reason}")
    assert_unauthorized(post(guard, f"/webhooks/bound/completed/{SCAN}", body), upstream)
    assert guard.wait_counter(f"webhook_guard.bound.denied.{reason}", before + 1) == before + 1


def test_bound_payload_without_a_scan_id_is_refused(guard, upstream):
    doc = mtls.completed_webhook(SCAN, bound_payload(SCAN))
    del doc["scannedDocument"]["scanId"]
    before = guard.counter("webhook_guard.bound.denied.payload_missing")
    assert_unauthorized(post(guard, "/webhooks/bound/completed/x", mtls.body_of(doc)), upstream)
    assert guard.wait_counter("webhook_guard.bound.denied.payload_missing", before + 1) == before + 1


def test_duplicate_scan_id_is_refused_in_bound_mode(guard, upstream):
    """The value the payload is bound to must be unambiguous too."""
    body = ('{"developerPayload":"%s","scannedDocument":{"scanId":"%s","scanId":"%s"}}'
            % (bound_payload(SCAN), SCAN, OTHER_SCAN)).encode()
    assert_unauthorized(post(guard, "/webhooks/bound/completed/x", body), upstream)
    assert guard.wait_counter("webhook_guard.bound.denied.payload_duplicate_key", 1) >= 1


def test_log_holds_no_payload_secret(guard):
    guard.assert_no_secret_in_log(extra=[PREVIOUS, bound_payload(SCAN)])
