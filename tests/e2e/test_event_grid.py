"""checks.event_grid (issue 21, SPEC 2.1 handshakes): Azure Event Grid's endpoint
validation answered by the filter, only behind the route's authentication, against a
real Envoy.

Events are built with Event Grid's own models (azure-eventgrid's `EventGridEvent`,
azure-core's `CloudEvent`); Entra ID tokens are RS256 JWTs signed here with a key whose
JWKS the route holds, checked by PyJWT as well. The Event Grid schema's
SubscriptionValidationEvent is answered `{"validationResponse": <code>}`, the CloudEvents
`OPTIONS` abuse-protection request with `WebHook-Allowed-Origin` (and the rate); neither
reaches the application. A handshake that fails authentication is a 401 like any other;
events are forwarded untouched once authenticated."""

from __future__ import annotations

import json
import time
import uuid

import jwt as pyjwt
import pytest
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, SystemEventNames
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

import harness

DELIVERY_KEY = "e2e-eventgrid-delivery-key-7a41c2"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
APP_ID = "api://e2e-eventgrid-webhook"
VALIDATION = SystemEventNames.EventGridSubscriptionValidationEventName.value
ORIGIN = "eventgrid.azure.net"

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk() -> dict:
    d = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))
    d.update(kid="entra-1", use="sig", alg="RS256")
    return d


POLICY = {"api": "v1", "mode": "enforce", "unmatched": "deny", "routes": [
    {"name": "grid_key", "match": {"path_exact": "/eg/key"},
     "checks": {"headers": [{"name": "x-eventgrid-key", "secrets": [{"id": "delivery", "env": "EG_KEY"}]}],
                "event_grid": {"allowed_rate": 120}}},
    {"name": "grid_entra", "match": {"path_exact": "/eg/entra"},
     "checks": {"jwt": {"jwks": {"keys": [jwk()]}, "algorithms": ["RS256"], "issuer": ISSUER,
                        "audiences": [APP_ID]},
                "event_grid": {}}},
    {"name": "grid_origin", "match": {"path_exact": "/eg/origin"},
     "checks": {"headers": [{"name": "x-eventgrid-key", "secrets": [{"env": "EG_KEY"}]}],
                "event_grid": {"allowed_origins": ["events.example.test"]}}},
]}


@pytest.fixture(scope="module")
def envoy(envoy_factory):
    return envoy_factory.start(POLICY, {"EG_KEY": DELIVERY_KEY}, name="event_grid")


def token(key=KEY, **claims) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": APP_ID, "iat": now, "nbf": now, "exp": now + 3600, "tid": TENANT,
            "appid": "4962773b-9cdb-44cf-a8bf-237846a00ab7", **claims}
    t = pyjwt.encode(body, key, algorithm="RS256", headers={"kid": "entra-1"})
    return t


def entra(t: str | None = None) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {t or token()}")]


KEYED = [("x-eventgrid-key", DELIVERY_KEY)]


def validation_event(code: str) -> bytes:
    e = EventGridEvent(subject="", event_type=VALIDATION, data_version="1",
                       topic=f"/subscriptions/{uuid.uuid4()}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s",
                       data={"validationCode": code,
                             "validationUrl": "https://rp-eastus2.eventgrid.azure.net:553/eventsubscriptions/s/validate"})
    return json.dumps([e.serialize()]).encode()


def notification() -> bytes:
    e = EventGridEvent(subject="/blobServices/default/containers/c/blobs/a.txt",
                       event_type="Microsoft.Storage.BlobCreated", data_version="1", topic="/subscriptions/x",
                       data={"api": "PutBlob", "contentLength": 524288, "url": "https://s.blob.core.windows.net/c/a.txt"})
    return json.dumps([e.serialize()]).encode()


def cloud_event() -> bytes:
    c = CloudEvent(source="/subscriptions/x/resourceGroups/rg", type="Contoso.Items.ItemReceived",
                   data={"itemSku": "Standard"}, subject="items/1")
    doc = {"specversion": c.specversion, "id": c.id, "source": c.source, "type": c.type, "subject": c.subject,
           "time": c.time.isoformat(), "datacontenttype": "application/json", "data": c.data}
    assert CloudEvent.from_dict(doc).type == c.type
    return json.dumps(doc).encode()


def post(envoy, path, headers, body, kind="SubscriptionValidation"):
    h = [("Content-Type", "application/json"), *headers]
    if kind:
        h.append(("aeg-event-type", kind))
    return harness.http1(envoy.port, "POST", path, h, body)


def options(envoy, path, headers, origin=ORIGIN):
    h = [*headers] + ([("WebHook-Request-Origin", origin)] if origin else [])
    return harness.http1(envoy.port, "OPTIONS", path, h, b"")


@pytest.mark.parametrize("path,auth", [("/eg/key", KEYED), ("/eg/entra", None)], ids=["delivery-key", "entra-id"])
def test_the_validation_event_is_answered_with_its_code(envoy, upstream, path, auth):
    code = str(uuid.uuid4()).upper()
    before = envoy.counter(f"webhook_guard.{path.replace('/eg/', 'grid_')}.handshake") or 0
    resp = post(envoy, path, auth or entra(), validation_event(code))
    assert resp.status == 200, resp.body
    assert resp.json() == {"validationResponse": code}
    assert resp.header("content-type") == "application/json"
    upstream.assert_nothing_reached()
    name = f"webhook_guard.{path.replace('/eg/', 'grid_')}.handshake"
    assert envoy.wait_counter(name, before + 1) == before + 1


@pytest.mark.parametrize("auth", [
    [], [("x-eventgrid-key", DELIVERY_KEY + "x")], [("x-eventgrid-key", DELIVERY_KEY)] * 2,
], ids=["no-key", "wrong-key", "key-twice"])
def test_a_validation_without_the_delivery_key_is_refused(envoy, upstream, auth):
    code = str(uuid.uuid4())
    resp = post(envoy, "/eg/key", auth, validation_event(code))
    assert (resp.status, resp.json()) == (401, {"error": "unauthorized"})
    assert code.encode() not in resp.body
    upstream.assert_nothing_reached()


def test_entra_tokens_are_checked_before_any_handshake(envoy, upstream):
    code = str(uuid.uuid4())
    # PyJWT, the independent verifier, reads each token as the filter does.
    good = token()
    assert pyjwt.decode(good, KEY.public_key(), algorithms=["RS256"], audience=APP_ID, issuer=ISSUER)
    bad = {
        "signed by another key": token(key=OTHER_KEY),
        "another audience": token(aud="api://someone-else"),
        "another tenant's issuer": token(iss="https://login.microsoftonline.com/other/v2.0"),
        "expired": token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200, nbf=int(time.time()) - 7200),
    }
    for label, t in bad.items():
        with pytest.raises(pyjwt.InvalidTokenError):
            pyjwt.decode(t, KEY.public_key(), algorithms=["RS256"], audience=APP_ID, issuer=ISSUER)
        resp = post(envoy, "/eg/entra", entra(t), validation_event(code))
        assert resp.status == 401, label
        resp = options(envoy, "/eg/entra", entra(t))
        assert resp.status == 401, label
        assert resp.header("webhook-allowed-origin") is None, label
    resp = post(envoy, "/eg/entra", [], validation_event(code))
    assert resp.status == 401
    upstream.assert_nothing_reached()
    resp = post(envoy, "/eg/entra", entra(good), validation_event(code))
    assert resp.json() == {"validationResponse": code}


def test_the_cloudevents_options_handshake_grants_the_origin_and_rate(envoy, upstream):
    before = envoy.counter("webhook_guard.grid_key.handshake") or 0
    resp = options(envoy, "/eg/key", KEYED)
    assert resp.status == 200
    assert resp.header("webhook-allowed-origin") == ORIGIN
    assert resp.header("webhook-allowed-rate") == "120"
    assert resp.body == b""
    resp = options(envoy, "/eg/entra", entra(), origin="EventGrid.Azure.NET")
    assert resp.status == 200
    assert resp.header("webhook-allowed-origin") == ORIGIN
    assert resp.header("webhook-allowed-rate") is None
    upstream.assert_nothing_reached()
    assert envoy.wait_counter("webhook_guard.grid_key.handshake", before + 1) == before + 1


def test_options_from_other_origins_or_without_one_is_refused(envoy, upstream):
    resp = options(envoy, "/eg/key", KEYED, origin="evil.example.com")
    assert (resp.status, resp.json()) == (403, {"error": "forbidden"})
    assert resp.header("webhook-allowed-origin") is None
    envoy.wait_log(r"denied route=grid_key reason=handshake_origin_not_allowed client=127\.0\.0\.1")
    resp = options(envoy, "/eg/key", KEYED, origin=None)
    assert resp.status == 401
    envoy.wait_log(r"denied route=grid_key reason=handshake_malformed")
    # Without the key: a 401 before the origin is looked at.
    resp = options(envoy, "/eg/key", [])
    assert resp.status == 401
    envoy.wait_log(r"denied route=grid_key reason=header_missing")
    # A route that allows another origin refuses Event Grid's.
    assert options(envoy, "/eg/origin", KEYED).status == 403
    resp = options(envoy, "/eg/origin", KEYED, origin="events.example.test")
    assert resp.header("webhook-allowed-origin") == "events.example.test"
    upstream.assert_nothing_reached()


def test_events_are_forwarded_untouched_once_authenticated(envoy, upstream):
    body = notification()
    resp = post(envoy, "/eg/key", KEYED, body, kind="Notification")
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.body == body and rec.path == "/eg/key"
    assert rec.header_values("aeg-event-type") == ["Notification"]
    assert rec.header_values("x-eventgrid-key") == [], "the delivery key is stripped"
    assert rec.header_values("x-webhook-guard") == ["route=grid_key"]
    [event] = json.loads(rec.body)
    assert EventGridEvent.from_dict(event).event_type == "Microsoft.Storage.BlobCreated"
    upstream.reset()
    body = cloud_event()
    h = [("Content-Type", "application/cloudevents+json; charset=utf-8"), *entra()]
    resp = harness.http1(envoy.port, "POST", "/eg/entra", h, body)
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.body == body
    assert CloudEvent.from_dict(json.loads(rec.body)).type == "Contoso.Items.ItemReceived"
    upstream.reset()
    assert post(envoy, "/eg/key", [], notification(), kind="Notification").status == 401
    upstream.assert_nothing_reached()


def test_validation_requests_never_reach_the_application(envoy, upstream):
    code = str(uuid.uuid4())
    cases = {
        "a validation event under a Notification header": (validation_event(code), "Notification"),
        "a validation event without the header": (validation_event(code), None),
        "the header with an ordinary event": (notification(), "SubscriptionValidation"),
        "a validation event beside another event": (
            json.dumps(json.loads(validation_event(code)) + json.loads(notification())).encode(), "SubscriptionValidation"),
        "a code that is not a GUID": (validation_event("<b>x</b>"), "SubscriptionValidation"),
    }
    for label, (body, kind) in cases.items():
        resp = post(envoy, "/eg/key", KEYED, body, kind=kind)
        assert resp.status == 401, label
        assert b"validationResponse" not in resp.body, label
    upstream.assert_nothing_reached()
    assert envoy.wait_counter("webhook_guard.grid_key.denied.handshake_malformed", len(cases)) >= len(cases)


def test_a_route_with_event_grid_and_no_authentication_does_not_load(envoy_factory):
    policy = {"api": "v1", "routes": [{"name": "open", "match": {"path_exact": "/eg"},
                                       "checks": {"ip_allowlist": {"cidrs": ["0.0.0.0/0"]}, "event_grid": {}}}]}
    failure = envoy_factory.start_failing(policy)
    assert "routes[0].checks.event_grid: Event Grid's handshakes are answered only for authenticated requests" \
        in failure.log


def test_no_secret_in_the_log(envoy):
    envoy.assert_no_secret_in_log(extra=[DELIVERY_KEY])
