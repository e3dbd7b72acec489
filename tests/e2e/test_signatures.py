"""Signature checks (SPEC 2.1, 2.4 tolerance, 3, 4): every scheme accepted and tampered,
rotation, timestamps, ambiguous headers, the denial log line and the metrics.

One Envoy serves all of it: one route per scheme or variant."""

from __future__ import annotations

import base64
import json
import re

import pytest

import harness
import prometheus
import signing

GH = "gh-e2e-secret-0a1b2c3d"
STRIPE = "whsec_e2e_stripe_3f9d8c7b"
SLACK = "slack-e2e-8f742231b10e8888"
SHOPIFY = "shpss_e2e_shopify_77aa55"
STANDARD = "whsec_" + base64.b64encode(b"e2e standard-webhooks key 0123456789").decode()
GENERIC = "generic-e2e-secret-x9y8"
INLINE = "inline-e2e-value-secret-q7"
ROT_NEW = "rotation-new-secret-e2e-11"
ROT_OLD = "rotation-old-secret-e2e-22"

ENV = {
    "GH_SECRET": GH,
    "STRIPE_SECRET": STRIPE,
    "SLACK_SECRET": SLACK,
    "SHOPIFY_SECRET": SHOPIFY,
    "STANDARD_SECRET": STANDARD,
    "GENERIC_SECRET": GENERIC,
}


def route(name: str, prefix: str, signature: dict) -> dict:
    return {"name": name, "match": {"path_prefix": prefix}, "checks": {"signature": signature}}


POLICY = {
    "api": "v1",
    "mode": "enforce",
    "max_body_bytes": 65536,
    "unmatched": "deny",
    "routes": [
        route("github", "/hooks/github", {"scheme": "github", "secrets": [{"id": "current", "env": "GH_SECRET"}]}),
        route("stripe", "/hooks/stripe", {"scheme": "stripe", "tolerance_seconds": 300,
                                          "secrets": [{"id": "current", "env": "STRIPE_SECRET"}]}),
        route("slack", "/hooks/slack", {"scheme": "slack", "tolerance_seconds": 300,
                                        "secrets": [{"id": "current", "env": "SLACK_SECRET"}]}),
        route("shopify", "/hooks/shopify", {"scheme": "shopify", "secrets": [{"id": "current", "env": "SHOPIFY_SECRET"}]}),
        route("standard", "/hooks/standard", {"scheme": "standard", "tolerance_seconds": 300,
                                              "secrets": [{"id": "current", "env": "STANDARD_SECRET"}]}),
        route("svix", "/hooks/svix", {"scheme": "svix", "tolerance_seconds": 300,
                                      "secrets": [{"id": "current", "env": "STANDARD_SECRET"}]}),
        # generic with every knob turned away from its default
        route("generic", "/hooks/generic-sha512", {
            "scheme": "generic", "header": "X-Signature", "algorithm": "sha512", "encoding": "base64",
            "prefix": "sha512=", "timestamp_header": "X-Timestamp", "signed_payload": "{timestamp}.{body}",
            "tolerance_seconds": 300, "secrets": [{"id": "inline", "value": INLINE}],
        }),
        # generic defaults: X-Webhook-Signature, sha256, hex, no prefix, "{body}"
        route("generic_default", "/hooks/generic-default",
              {"scheme": "generic", "secrets": [{"id": "current", "env": "GENERIC_SECRET"}]}),
        # generic with id, method and path in the template
        route("generic_template", "/hooks/generic-template", {
            "scheme": "generic", "header": "X-Sig", "algorithm": "sha1", "encoding": "hex",
            "timestamp_header": "X-Ts", "id_header": "X-Msg-Id", "tolerance_seconds": 300,
            "signed_payload": "{method} {path}\n{id}.{timestamp}.{body}",
            "secrets": [{"id": "current", "env": "GENERIC_SECRET"}],
        }),
        route("rotation_expired", "/hooks/rotation-expired", {"scheme": "github", "secrets": [
            {"id": "current", "value": ROT_NEW},
            {"id": "previous", "value": ROT_OLD, "not_after": "2001-01-31T00:00:00Z"},
        ]}),
        route("rotation_live", "/hooks/rotation-live", {"scheme": "github", "secrets": [
            {"id": "current", "value": ROT_NEW},
            {"id": "previous", "value": ROT_OLD, "not_after": "2099-01-31T00:00:00Z"},
        ]}),
    ],
}


@pytest.fixture(scope="module")
def envoy(envoy_factory):
    return envoy_factory.start(POLICY, ENV, name="signatures")


BODY = json.dumps({"id": "evt_e2e", "data": {"amount": 4200, "note": "héllo"}}, ensure_ascii=False).encode()
TAMPERED = BODY.replace(b"4200", b"9999")


def sign(scheme: str, body: bytes, **kw) -> list[tuple[str, str]]:
    """Headers for the route of each scheme in POLICY."""
    if scheme == "github":
        return signing.github(GH, body)
    if scheme == "stripe":
        return signing.stripe(STRIPE, body, **kw)
    if scheme == "slack":
        return signing.slack(SLACK, body, **kw)
    if scheme == "shopify":
        return signing.shopify(SHOPIFY, body)
    if scheme == "standard":
        return signing.standard(STANDARD, body, **kw)
    if scheme == "svix":
        return signing.standard(STANDARD, body, prefix="svix", **kw)
    if scheme == "generic":
        return signing.generic(INLINE, body, header="X-Signature", algorithm="sha512", encoding="base64",
                               prefix="sha512=", timestamp_header="X-Timestamp", signed_payload="{timestamp}.{body}", **kw)
    if scheme == "generic_default":
        return signing.generic(GENERIC, body)
    if scheme == "generic_template":
        return signing.generic(GENERIC, body, header="X-Sig", algorithm="sha1", encoding="hex", timestamp_header="X-Ts",
                               id_header="X-Msg-Id", msg_id="msg-0001", signed_payload="{method} {path}\n{id}.{timestamp}.{body}",
                               method="POST", path="/hooks/generic-template/orders", **kw)
    raise ValueError(scheme)


PATHS = {
    "github": "/hooks/github", "stripe": "/hooks/stripe", "slack": "/hooks/slack", "shopify": "/hooks/shopify",
    "standard": "/hooks/standard", "svix": "/hooks/svix", "generic": "/hooks/generic-sha512",
    "generic_default": "/hooks/generic-default", "generic_template": "/hooks/generic-template/orders",
}
SCHEMES = list(PATHS)
TIMESTAMPED = ["stripe", "slack", "standard", "svix", "generic", "generic_template"]


def post(envoy, path, headers, body=BODY, **kw):
    return harness.http1(envoy.port, "POST", path, [("Content-Type", "application/json"), *headers], body, **kw)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_signed_request_is_forwarded_unchanged(envoy, upstream, scheme):
    headers = sign(scheme, BODY)
    resp = post(envoy, PATHS[scheme], headers)
    assert resp.status == 200, (resp.status, resp.body)
    [rec] = upstream.requests()
    assert rec.body == BODY
    assert rec.path == PATHS[scheme]
    # Forwarded untouched: the provider's signature headers reach the app as sent.
    for name, value in headers:
        assert rec.header_values(name) == [value], name
    assert rec.header_values("x-webhook-guard") == [f"route={scheme}"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_tampered_body_is_refused(envoy, upstream, scheme):
    resp = post(envoy, PATHS[scheme], sign(scheme, BODY), TAMPERED)
    assert resp.status == 401
    assert resp.json() == {"error": "unauthorized"}
    assert resp.header("content-type") == "application/json"
    upstream.assert_nothing_reached()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_missing_signature_is_refused(envoy, upstream, scheme):
    resp = post(envoy, PATHS[scheme], [])
    assert resp.status == 401
    assert resp.json() == {"error": "unauthorized"}
    upstream.assert_nothing_reached()


def test_signature_from_another_secret_is_refused(envoy, upstream):
    resp = post(envoy, "/hooks/github", signing.github("not-the-secret", BODY))
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_github_signature_is_checked_in_full(envoy, upstream):
    good = signing.github(GH, BODY)[0][1]
    for bad in [good[:-2], good[:7], good + "00", good.replace("sha256=", "sha1="),
                "sha256=" + "0" * 64, "sha256= " + good[7:], "sha256=" + good[7:] + " x"]:
        resp = post(envoy, "/hooks/github", [("X-Hub-Signature-256", bad)])
        assert resp.status == 401, bad
    upstream.assert_nothing_reached()


def test_stripe_accepts_any_matching_v1_among_several(envoy, upstream):
    headers = signing.stripe(STRIPE, BODY, extra_v1=["0" * 64, signing.stripe_v1("whsec_other", BODY, signing.now())])
    resp = post(envoy, "/hooks/stripe", headers)
    assert resp.status == 200
    assert upstream.requests()[0].body == BODY


def test_stripe_signature_over_another_timestamp_is_refused(envoy, upstream):
    ts = signing.now()
    sig = signing.stripe_v1(STRIPE, BODY, ts - 1)
    resp = post(envoy, "/hooks/stripe", [("Stripe-Signature", f"t={ts},v1={sig}")])
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_standard_accepts_any_matching_signature_among_several(envoy, upstream):
    other = base64.b64encode(b"\x01" * 32).decode()
    resp = post(envoy, "/hooks/standard", signing.standard(STANDARD, BODY, extra=[f"v1,{other}"]))
    assert resp.status == 200
    assert upstream.requests()[0].body == BODY


def test_standard_message_id_is_signed(envoy, upstream):
    headers = [(k, "msg_other" if k == "webhook-id" else v) for k, v in signing.standard(STANDARD, BODY)]
    resp = post(envoy, "/hooks/standard", headers)
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_generic_template_covers_the_path(envoy, upstream):
    # Signed for /hooks/generic-template/orders, sent to /hooks/generic-template/refunds.
    resp = post(envoy, "/hooks/generic-template/refunds", sign("generic_template", BODY))
    assert resp.status == 401
    upstream.assert_nothing_reached()


# ---- tolerance ---------------------------------------------------------------------


@pytest.mark.parametrize("scheme", TIMESTAMPED)
@pytest.mark.parametrize("offset", [-3600, -301 - 5, 301 + 5, 3600])
def test_timestamp_outside_tolerance_is_refused(envoy, upstream, scheme, offset):
    """Correctly signed, but too old (replay) or too far in the future: both directions."""
    resp = post(envoy, PATHS[scheme], sign(scheme, BODY, timestamp=signing.now() + offset))
    assert resp.status == 401
    assert resp.json() == {"error": "unauthorized"}
    upstream.assert_nothing_reached()


@pytest.mark.parametrize("scheme", ["stripe", "slack", "standard"])
@pytest.mark.parametrize("offset", [-240, 240])
def test_timestamp_inside_tolerance_is_accepted(envoy, upstream, scheme, offset):
    resp = post(envoy, PATHS[scheme], sign(scheme, BODY, timestamp=signing.now() + offset))
    assert resp.status == 200
    assert upstream.requests()[0].body == BODY


@pytest.mark.parametrize("ts", ["", "abc", "-5", "1.5e9", "99999999999999999999"])
def test_malformed_timestamp_is_refused(envoy, upstream, ts):
    headers = [("X-Slack-Request-Timestamp", ts), signing.slack(SLACK, BODY)[1]]
    resp = post(envoy, "/hooks/slack", headers)
    assert resp.status == 401
    upstream.assert_nothing_reached()


# ---- ambiguous input ---------------------------------------------------------------


def test_repeated_signature_header_is_refused_even_if_both_are_valid(envoy, upstream):
    sig = signing.github(GH, BODY)
    resp = post(envoy, "/hooks/github", sig + sig)
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_repeated_signature_header_one_valid_is_refused(envoy, upstream):
    resp = post(envoy, "/hooks/github", [("X-Hub-Signature-256", "sha256=" + "0" * 64), *signing.github(GH, BODY)])
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_repeated_timestamp_header_is_refused(envoy, upstream):
    headers = signing.slack(SLACK, BODY)
    resp = post(envoy, "/hooks/slack", [headers[0], *headers])
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_both_webhook_and_svix_headers_are_refused_by_svix(envoy, upstream):
    resp = post(envoy, "/hooks/svix", signing.standard(STANDARD, BODY) + signing.standard(STANDARD, BODY, prefix="svix"))
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_standard_reads_either_header_family_but_not_both(envoy, upstream):
    """The standard preset takes the webhook-* or the svix-* spelling, one family per request."""
    for prefix in ("webhook", "svix"):
        resp = post(envoy, "/hooks/standard", signing.standard(STANDARD, BODY, prefix=prefix))
        assert resp.status == 200, prefix
        [got] = upstream.requests()
        assert got.body == BODY and got.header(f"{prefix}-signature"), prefix
        upstream.reset()
    both = signing.standard(STANDARD, BODY) + signing.standard(STANDARD, BODY, prefix="svix")
    assert post(envoy, "/hooks/standard", both).status == 401
    upstream.assert_nothing_reached()


# ---- rotation ----------------------------------------------------------------------


def test_rotation_current_secret_accepted(envoy, upstream):
    for path in ("/hooks/rotation-expired", "/hooks/rotation-live"):
        resp = post(envoy, path, signing.github(ROT_NEW, BODY))
        assert resp.status == 200, path
    assert len(upstream.requests()) == 2


def test_rotation_previous_secret_accepted_before_not_after(envoy, upstream):
    before = envoy.counter("webhook_guard.rotation_live.secret.previous.matched")
    resp = post(envoy, "/hooks/rotation-live", signing.github(ROT_OLD, BODY))
    assert resp.status == 200
    assert upstream.requests()[0].body == BODY
    assert envoy.wait_counter("webhook_guard.rotation_live.secret.previous.matched", before + 1) == before + 1


def test_rotation_previous_secret_refused_after_not_after(envoy, upstream):
    resp = post(envoy, "/hooks/rotation-expired", signing.github(ROT_OLD, BODY))
    assert resp.status == 401
    upstream.assert_nothing_reached()
    assert envoy.counter("webhook_guard.rotation_expired.secret.previous.matched") == 0


# ---- metrics -----------------------------------------------------------------------


def counters(envoy, *names):
    return {n: envoy.counter(n) for n in names}


def test_metrics_allowed_and_secret_matched(envoy, upstream):
    names = ["webhook_guard.github.allowed", "webhook_guard.github.secret.current.matched",
             "webhook_guard.github.denied.signature_mismatch"]
    before = counters(envoy, *names)
    assert post(envoy, "/hooks/github", signing.github(GH, BODY)).status == 200
    envoy.wait_counter(names[0], before[names[0]] + 1)
    after = counters(envoy, *names)
    assert after[names[0]] == before[names[0]] + 1
    assert after[names[1]] == before[names[1]] + 1
    assert after[names[2]] == before[names[2]]


@pytest.mark.parametrize("reason,route,path,headers", [
    ("signature_mismatch", "github", "/hooks/github", lambda: signing.github(GH, TAMPERED)),
    ("signature_missing", "github", "/hooks/github", lambda: []),
    ("signature_malformed", "github", "/hooks/github", lambda: [("X-Hub-Signature-256", "sha256=not-hex")]),
    ("signature_repeated", "github", "/hooks/github", lambda: signing.github(GH, BODY) * 2),
    ("timestamp_missing", "slack", "/hooks/slack", lambda: signing.slack(SLACK, BODY)[1:]),
    ("timestamp_malformed", "slack", "/hooks/slack", lambda: [("X-Slack-Request-Timestamp", "yesterday"), signing.slack(SLACK, BODY)[1]]),
    ("timestamp_out_of_tolerance", "stripe", "/hooks/stripe", lambda: signing.stripe(STRIPE, BODY, signing.now() - 3600)),
])
def test_metrics_denied_by_reason(envoy, upstream, reason, route, path, headers):
    name = f"webhook_guard.{route}.denied.{reason}"
    allowed = f"webhook_guard.{route}.allowed"
    before, before_allowed = envoy.counter(name), envoy.counter(allowed)
    resp = post(envoy, path, headers())
    assert resp.status == 401
    assert envoy.wait_counter(name, before + 1) == before + 1
    assert envoy.counter(allowed) == before_allowed
    upstream.assert_nothing_reached()


def test_metrics_are_defined_before_traffic(envoy):
    """Counters a route always has read 0 from the start, so dashboards see them."""
    stats = envoy.stats()
    assert "webhook_guard.shopify.allowed" in stats
    assert "webhook_guard.rotation_expired.secret.previous.matched" in stats


def test_prometheus_endpoint_exports_plugin_counters(envoy):
    # One metric per measure, the route as a label (the stats tags of envoy/envoy.yaml).
    scrape = prometheus.scrape(envoy)
    assert scrape.value("webhook_guard_allowed", route="github") is not None, scrape.text[-2000:]
    assert not [n for n in scrape.names() if n.startswith("webhook_guard_github")]


# ---- log ---------------------------------------------------------------------------


def test_denial_logs_one_warn_line_with_route_reason_and_client(envoy, upstream):
    marker = "e2e-log-marker-71"
    resp = post(envoy, "/hooks/github", [*signing.github(GH, BODY), ("X-Note", marker)], TAMPERED)
    assert resp.status == 401
    line = envoy.wait_log(r"\[warn(ing)?\].*signature_mismatch")
    assert "github" in line and "127.0.0.1" in line, line


def test_no_secret_or_signature_in_the_log(envoy):
    """Last in this module: after every request above, at wasm debug level."""
    envoy.assert_no_secret_in_log()
    log = envoy.log()
    # GitHub signatures are deterministic: the one sent all along must not be logged.
    assert signing.github(GH, BODY)[0][1].split("=", 1)[1] not in log
