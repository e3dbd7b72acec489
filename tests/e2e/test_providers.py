"""Every provider preset (SPEC 2.1) against a real Envoy: a request signed the provider's
way (by its own SDK where PyPI has one, see provider_signing.py) is forwarded untouched,
one signed with another key or with its body changed is refused and reaches nothing.

One Envoy serves all of it: one route per preset."""

from __future__ import annotations

import base64
import json
import re

import pytest

import harness
import provider_signing as ps

SECRET = "e2e-provider-secret-4c1d9a"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"e2e provider standard key 0123456789").decode()
TEAMS_TOKEN = base64.b64encode(b"e2e teams outgoing webhook token").decode()
DISCORD_SEED = "11" * 32
SENDGRID_SEED = "424242424242424242424242"
V1A_SEED = "22" * 32
TELNYX_SEED = "55" * 32
AIRTABLE_SECRET = base64.b64encode(b"e2e airtable mac secret 0123456").decode()
PUBLIC_TWILIO_URL = "https://hooks.example.com/p/twilio"
ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"

# Key material per preset: (what the route is configured with, what the signer signs with,
# and a wrong one of the same shape for forgeries).
def keys(name: str) -> tuple[dict, str, str]:
    if name in ("standard", "svix", "clerk", "resend", "replicate", "openai", "brex"):
        other = "whsec_" + base64.b64encode(b"another standard key, not ours").decode()
        return {"secrets": [{"id": "current", "env": "STANDARD_SECRET"}]}, STANDARD_SECRET, other
    if name == "microsoft_teams":
        return {"secrets": [{"id": "current", "env": "TEAMS_TOKEN"}]}, TEAMS_TOKEN, base64.b64encode(b"x" * 32).decode()
    if name == "discord":
        return {"public_keys": [{"id": "app", "value": ps.discord_public_key(DISCORD_SEED)}]}, DISCORD_SEED, "33" * 32
    if name == "telnyx":
        return {"public_keys": [{"id": "acct", "value": ps.telnyx_public_key(TELNYX_SEED)}]}, TELNYX_SEED, "66" * 32
    if name == "airtable":
        return ({"secrets": [{"id": "current", "env": "AIRTABLE_SECRET"}]}, AIRTABLE_SECRET,
                base64.b64encode(b"another airtable mac secret 012").decode())
    if name == "sendgrid":
        return {"public_keys": [{"id": "sg", "value": ps.sendgrid_public_key(int(SENDGRID_SEED))}]}, SENDGRID_SEED, "777"
    if name == "adyen":
        return {"secrets": [{"id": "current", "env": "ADYEN_HMAC_KEY"}]}, ADYEN_KEY, ADYEN_KEY[::-1]
    return {"secrets": [{"id": "current", "env": "PROVIDER_SECRET"}]}, SECRET, SECRET + "-not"


NAMES = list(ps.SIGNERS)
# Presets that sign the URL: these paths carry a query, to show it is signed too.
PATHS = {"hubspot": "/p/hubspot?portalId=62515&email=a%40b.com&q=%2Fx%3Ay", "hubspot_v2": "/p/hubspot_v2?portalId=62515",
         "twilio": "/p/twilio?x=1",
         "square": "/p/square", "trello": "/p/trello", "mandrill": "/p/mandrill"}


def path_of(name: str) -> str:
    return PATHS.get(name, f"/p/{name}")


def url_of(name: str) -> str:
    if name == "twilio":
        return PUBLIC_TWILIO_URL + "?x=1"
    # Rebuilt by the filter from x-forwarded-proto (Envoy sets it), :authority and :path.
    return "http://example.test" + path_of(name)


def route(name: str) -> dict:
    sig = {"scheme": name, **keys(name)[0]}
    if name in ("meta", "facebook", "instagram", "whatsapp"):
        sig["verify_token"] = {"env": "META_VERIFY_TOKEN"}
    if name == "twilio":
        sig["public_url"] = PUBLIC_TWILIO_URL
    prefix = path_of(name).split("?")[0]
    return {"name": f"p_{name}", "match": {"path_exact": prefix}, "checks": {"signature": sig}}


EXTRA_ROUTES = [
    {"name": "twilio_json", "match": {"path_exact": "/p/twilio-json"},
     "checks": {"signature": {"scheme": "twilio", "secrets": [{"env": "PROVIDER_SECRET"}]}}},
    {"name": "standard_v1a", "match": {"path_exact": "/p/standard-v1a"},
     "checks": {"signature": {"scheme": "standard", "secrets": [{"id": "hmac", "env": "STANDARD_SECRET"}],
                              "public_keys": [{"id": "ed", "value": ps.standard_public_key(V1A_SEED)}]}}},
    # HubSpot's v2 written by hand through `generic`: a plain digest with the secret in the template.
    {"name": "generic_digest", "match": {"path_exact": "/p/generic-digest"},
     "checks": {"signature": {"scheme": "generic", "secrets": [{"env": "PROVIDER_SECRET"}], "header": "X-HubSpot-Signature",
                              "algorithm": "digest_sha256", "signed_payload": "{secret}{method}{url}{body}"}}},
]

POLICY = {"api": "v1", "mode": "enforce", "max_body_bytes": 65536, "unmatched": "deny",
          "routes": [route(n) for n in NAMES] + EXTRA_ROUTES}
META_VERIFY_TOKEN = "e2e-meta-verify-token-91"
ENV = {"PROVIDER_SECRET": SECRET, "STANDARD_SECRET": STANDARD_SECRET, "TEAMS_TOKEN": TEAMS_TOKEN,
       "META_VERIFY_TOKEN": META_VERIFY_TOKEN, "AIRTABLE_SECRET": AIRTABLE_SECRET, "ADYEN_HMAC_KEY": ADYEN_KEY}

BODY = json.dumps({"id": "evt_e2e_7", "type": "test.event", "data": {"amount": 4200, "note": "h\u00e9llo"}},
                  ensure_ascii=False).encode()


@pytest.fixture(scope="module")
def envoy(envoy_factory):
    return envoy_factory.start(POLICY, ENV, name="providers")


def signed(name: str, secret: str | None = None, body: bytes = BODY, **ctx) -> tuple[list, bytes]:
    signer, _ = ps.SIGNERS[name]
    return signer(secret or keys(name)[1], body, ps.Ctx(path=path_of(name), url=url_of(name), **ctx))


def post(envoy, path: str, headers, body: bytes):
    return harness.http1(envoy.port, "POST", path, [("Content-Type", "application/json"), *headers]
                         if not any(k.lower() == "content-type" for k, _ in headers) else headers, body)


@pytest.mark.parametrize("name", NAMES)
def test_signed_by_the_provider_is_forwarded_unchanged(envoy, upstream, name):
    headers, body = signed(name)
    resp = post(envoy, path_of(name), headers, body)
    assert resp.status == 200, (name, resp.status, resp.body)
    [rec] = upstream.requests()
    assert rec.body == body
    assert rec.path == path_of(name)
    for k, v in headers:
        assert rec.header_values(k) == [v], k
    assert rec.header_values("x-webhook-guard") == [f"route=p_{name}"]


@pytest.mark.parametrize("name", NAMES)
def test_signed_with_another_key_is_refused(envoy, upstream, name):
    headers, body = signed(name, secret=keys(name)[2])
    resp = post(envoy, path_of(name), headers, body)
    assert resp.status == 401, (name, resp.status)
    assert resp.json() == {"error": "unauthorized"}
    upstream.assert_nothing_reached()


def tampered(body: bytes) -> bytes:
    return body.replace(b"4200", b"4201", 1).replace(b"Hello", b"Hallo", 1).replace(b"%22send%22", b"%22spam%22", 1)


# GitLab's and Okta's tokens and Figma's passcode prove the sender, not the body; Mailgun
# signs a timestamp and a token, not the body: tampering with their bodies is, by the
# providers' design, not detectable.
BODY_SIGNED = [n for n in NAMES if n not in ("gitlab", "mailgun", "okta", "figma")]


@pytest.mark.parametrize("name", BODY_SIGNED)
def test_body_changed_after_signing_is_refused(envoy, upstream, name):
    headers, body = signed(name)
    changed = tampered(body)
    assert changed != body
    resp = post(envoy, path_of(name), headers, changed)
    assert resp.status == 401, (name, resp.status)
    upstream.assert_nothing_reached()


# Presets whose signed bytes carry a timestamp: a request signed an hour ago is refused.
TIMESTAMPED = ["zoom", "slack", "stripe", "standard", "svix", "clerk", "resend", "twitch", "box", "hubspot", "sendgrid",
               "discord", "paddle", "calendly", "mux", "linear", "mailgun", "workos", "zendesk", "buildkite",
               "customerio", "webflow", "replicate", "openai", "brex", "sinch", "front", "telnyx", "cashfree"]


@pytest.mark.parametrize("name", TIMESTAMPED)
def test_old_signature_is_refused(envoy, upstream, name):
    headers, body = signed(name, now=ps.time.time() - 3600)
    resp = post(envoy, path_of(name), headers, body)
    assert resp.status == 401, (name, resp.status)
    upstream.assert_nothing_reached()


# Where the provider sets no limit ahead of its clock, the shared allowance for clock skew
# (60 s) applies: a little ahead passes, two minutes ahead does not.
SKEW_ONLY = ["discord", "zendesk", "linear", "mux", "buildkite", "cashfree", "sinch", "replicate"]


# Calendly's page refuses a message three minutes old and says nothing of one ahead.
SKEW_ONLY += ["calendly"]


@pytest.mark.parametrize("name", SKEW_ONLY)
def test_signature_from_the_future_is_refused_past_the_allowance(envoy, upstream, name):
    headers, body = signed(name, now=ps.time.time() + 30)
    assert post(envoy, path_of(name), headers, body).status == 200, name
    upstream.reset()
    headers, body = signed(name, now=ps.time.time() + 120)
    assert post(envoy, path_of(name), headers, body).status == 401, name
    upstream.assert_nothing_reached()


# Presets whose provider compares its own lower-case hex digest with the header as text.
LOWER_HEX = ["github", "linear", "mollie", "onfido", "gocardless", "asana", "sentry", "vercel", "dropbox", "mux",
             "pagerduty", "bitbucket", "buildkite", "webex", "webflow", "airtable", "customerio", "checkout", "launchdarkly",
             "alchemy", "dwolla", "coinify"]


# Meta's sample app, Gitea's page, Lemon Squeezy's Laravel package, Calendly's and
# CircleCI's pages, HashiCorp's API docs and Segment's docs compare hex strings too.
LOWER_HEX += ["meta", "facebook", "instagram", "whatsapp", "gitea", "lemonsqueezy", "calendly", "circleci",
              "terraform", "segment"]

# Cal.com's sender writes lower-case hex and its page compares the hashes; Paystack's
# snippets compare the hex string.
LOWER_HEX += ["calcom", "paystack"]


@pytest.mark.parametrize("name", LOWER_HEX)
def test_upper_case_hex_is_refused_where_the_provider_compares_strings(envoy, upstream, name):
    headers, body = signed(name)
    upper = [(k, re.sub(r"[0-9a-f]{40,}", lambda m: m.group(0).upper(), v)) for k, v in headers]
    assert upper != headers
    assert post(envoy, path_of(name), upper, body).status == 401, name
    upstream.assert_nothing_reached()


def test_notion_reads_hex_in_either_case_after_its_exact_prefix(envoy, upstream):
    """@notionhq/client's verifyWebhookSignature lower-cases the digits after `sha256=`
    before comparing, so an upper-case digest passes; the prefix itself is matched as written."""
    headers, body = signed("notion")
    upper = [(k, re.sub(r"[0-9a-f]{64}", lambda m: m.group(0).upper(), v)) for k, v in headers]
    assert upper != headers
    assert post(envoy, "/p/notion", upper, body).status == 200
    [rec] = upstream.requests()
    assert rec.body == body
    upstream.reset()
    prefix = [(k, "SHA256=" + v.removeprefix("sha256=")) for k, v in headers]
    assert post(envoy, "/p/notion", prefix, body).status == 401
    assert post(envoy, "/p/notion", upper, tampered(body)).status == 401
    upstream.assert_nothing_reached()


def test_mollie_signature_header_once_per_secret_during_rotation(envoy, upstream):
    """Mollie's validators take every value of X-Mollie-Signature: while a secret is being
    replaced the header comes once per secret, and one made with the route's is enough."""
    ours, _ = signed("mollie")
    old, _ = signed("mollie", secret="an-old-mollie-signing-secret")
    for headers in (old + ours, ours + old):
        resp = post(envoy, "/p/mollie", headers, BODY)
        assert resp.status == 200, resp.body
        [rec] = upstream.requests()
        assert rec.body == BODY
        assert rec.header_values("x-mollie-signature") == [v for _, v in headers]
        upstream.reset()
    # Neither made with the route's secret, or the body changed: refused, nothing forwarded.
    other, _ = signed("mollie", secret="another-old-mollie-secret")
    assert post(envoy, "/p/mollie", old + other, BODY).status == 401
    assert post(envoy, "/p/mollie", old + ours, tampered(BODY)).status == 401
    upstream.assert_nothing_reached()
    # Every other preset still refuses its signature header sent twice, even both valid.
    for name in ("github", "gocardless", "onfido", "notion"):
        headers, body = signed(name)
        assert post(envoy, path_of(name), headers + headers, body).status == 401, name
    upstream.assert_nothing_reached()


SHOPIFY_REQUIRED = ["X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-API-Version", "X-Shopify-Webhook-Id"]


@pytest.mark.parametrize("missing", SHOPIFY_REQUIRED)
@pytest.mark.parametrize("empty", [False, True], ids=["absent", "empty"])
def test_shopify_request_without_a_header_its_library_requires_is_refused(envoy, upstream, missing, empty):
    headers, body = signed("shopify")
    assert missing.lower() in [k.lower() for k, _ in headers]
    kept = [(k, "" if empty else v) for k, v in headers if k.lower() != missing.lower() or empty]
    assert post(envoy, path_of("shopify"), kept, body).status == 401, missing
    upstream.assert_nothing_reached()


def test_shopify_required_header_sent_twice_is_refused(envoy, upstream):
    headers, body = signed("shopify")
    assert post(envoy, path_of("shopify"), [*headers, ("X-Shopify-Topic", "orders/paid")], body).status == 401
    upstream.assert_nothing_reached()


@pytest.mark.parametrize("name", ["alchemy", "coinify"])
def test_a_body_that_is_not_utf8_is_refused_where_the_provider_reads_text(envoy, upstream, name):
    body = b'{"note": "caf\xe9"}'
    headers, body = signed(name, body=body)
    assert post(envoy, path_of(name), headers, body).status == 401, name
    upstream.assert_nothing_reached()
    # The same bytes as UTF-8 pass: the refusal is the encoding, not the signature.
    headers, body = signed(name, body='{"note": "caf\u00e9"}'.encode())
    assert post(envoy, path_of(name), headers, body).status == 200, name
    assert upstream.requests()[0].body == body


def test_mailgun_token_is_signed(envoy, upstream):
    headers, body = signed("mailgun")
    doc = json.loads(body)
    doc["signature"]["token"] = "0" * 50
    resp = post(envoy, "/p/mailgun", headers, json.dumps(doc).encode())
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_twilio_json_webhook_with_body_sha256(envoy, upstream):
    ctx = ps.Ctx(path="/p/twilio-json", url="http://example.test/p/twilio-json")
    headers, body = ps.twilio_json_sdk(SECRET, BODY, ctx)
    path = "/p/twilio-json?bodySHA256=" + ps.hashlib.sha256(BODY).hexdigest()
    assert post(envoy, path, headers, BODY).status == 200
    assert upstream.requests()[0].body == BODY
    upstream.reset()
    # The same signature and hash, another body: the hash no longer matches.
    assert post(envoy, path, headers, tampered(BODY)).status == 401
    upstream.assert_nothing_reached()


def test_twilio_url_is_signed(envoy, upstream):
    headers, body = signed("twilio")
    resp = post(envoy, "/p/twilio?x=2", headers, body)
    assert resp.status == 401
    upstream.assert_nothing_reached()


def test_generic_digest_is_the_hubspot_v2_recipe(envoy, upstream):
    ctx = ps.Ctx(path="/p/generic-digest", url="http://example.test/p/generic-digest")
    headers, body = ps.hubspot_digest("v2")(SECRET, BODY, ctx)
    resp = post(envoy, "/p/generic-digest", headers, body)
    assert resp.status == 200, resp.body
    assert upstream.requests()[0].body == BODY
    upstream.reset()
    forged, _ = ps.hubspot_digest("v2")(SECRET + "-not", BODY, ctx)
    assert post(envoy, "/p/generic-digest", forged, body).status == 401
    assert post(envoy, "/p/generic-digest", headers, tampered(body)).status == 401
    upstream.assert_nothing_reached()


def test_standard_v1a_ed25519(envoy, upstream):
    ctx = ps.Ctx(path="/p/standard-v1a", url="")
    headers, body = ps.standard_v1a_nacl(V1A_SEED, BODY, ctx)
    assert post(envoy, "/p/standard-v1a", headers, body).status == 200
    upstream.reset()
    forged, _ = ps.standard_v1a_nacl("44" * 32, BODY, ctx)
    assert post(envoy, "/p/standard-v1a", forged, body).status == 401
    # The same route still takes v1 HMAC signatures from the Standard Webhooks SDK.
    headers, body = ps.standard_sdk(STANDARD_SECRET, BODY, ctx)
    assert post(envoy, "/p/standard-v1a", headers, body).status == 200


def test_discord_invalid_signature_probe_is_refused(envoy, upstream):
    """Discord checks endpoints by sending requests with bad signatures."""
    headers, body = signed("discord")
    bad = [(k, ("0" if v[0] != "0" else "1") + v[1:]) if k == "X-Signature-Ed25519" else (k, v) for k, v in headers]
    assert post(envoy, "/p/discord", bad, body).status == 401
    upstream.assert_nothing_reached()


def test_key_matched_counter(envoy, upstream):
    name = "webhook_guard.p_sendgrid.secret.sg.matched"
    before = envoy.counter(name)
    headers, body = signed("sendgrid")
    assert post(envoy, "/p/sendgrid", headers, body).status == 200
    assert envoy.wait_counter(name, before + 1) == before + 1


# ---- handshakes (SPEC 2.1): answered in Envoy, counted, never forwarded -------------------


def get(envoy, path: str):
    return harness.http1(envoy.port, "GET", path, [])


def handshakes(envoy, route: str) -> int:
    return envoy.counter(f"webhook_guard.{route}.handshake")


def test_zoom_url_validation_is_answered(envoy, upstream):
    before = handshakes(envoy, "p_zoom")
    token = "qgg8vlvZRS6UYooatFL8Aw"
    body = json.dumps({"payload": {"plainToken": token}, "event_ts": 1654503849680,
                       "event": "endpoint.url_validation"}).encode()
    headers, body = ps.zoom(SECRET, body, ps.Ctx(path="/p/zoom", url=""))
    resp = post(envoy, "/p/zoom", headers, body)
    assert resp.status == 200, resp.body
    assert resp.header("content-type") == "application/json"
    assert resp.json() == {"plainToken": token, "encryptedToken": ps._hex(SECRET, token)}
    upstream.assert_nothing_reached()
    assert envoy.wait_counter("webhook_guard.p_zoom.handshake", before + 1) == before + 1


def test_zoom_url_validation_with_a_forged_signature_is_refused(envoy, upstream):
    body = json.dumps({"payload": {"plainToken": "abc"}, "event": "endpoint.url_validation"}).encode()
    headers, body = ps.zoom("not-the-secret", body, ps.Ctx(path="/p/zoom", url=""))
    resp = post(envoy, "/p/zoom", headers, body)
    assert resp.status == 401
    assert "encryptedToken" not in resp.body.decode()
    upstream.assert_nothing_reached()


def test_twitch_callback_verification_is_answered(envoy, upstream):
    before = handshakes(envoy, "p_twitch")
    challenge = "pogchamp-kappa-360noscope-vohiyo"
    body = json.dumps({"challenge": challenge, "subscription": {"id": "f1c2a387", "type": "channel.follow",
                                                                "status": "webhook_callback_verification_pending"}}).encode()
    headers, body = ps.twitch(SECRET, body, ps.Ctx(path="/p/twitch", url=""))
    headers = [(k, "webhook_callback_verification" if k == "Twitch-Eventsub-Message-Type" else v) for k, v in headers]
    resp = post(envoy, "/p/twitch", headers, body)
    assert resp.status == 200, resp.body
    assert resp.body == challenge.encode()
    assert resp.header("content-type").startswith("text/plain")
    upstream.assert_nothing_reached()
    assert envoy.wait_counter("webhook_guard.p_twitch.handshake", before + 1) == before + 1
    forged, _ = ps.twitch("not-the-secret", body, ps.Ctx(path="/p/twitch", url=""))
    forged = [(k, "webhook_callback_verification" if k == "Twitch-Eventsub-Message-Type" else v) for k, v in forged]
    assert post(envoy, "/p/twitch", forged, body).status == 401
    upstream.assert_nothing_reached()


def test_twitter_crc_is_answered(envoy, upstream):
    before = handshakes(envoy, "p_twitter")
    resp = get(envoy, "/p/twitter?crc_token=aBc-123_xyz")
    assert resp.status == 200, resp.body
    want = "sha256=" + base64.b64encode(ps._mac(SECRET, "aBc-123_xyz")).decode()
    assert resp.json() == {"response_token": want}
    upstream.assert_nothing_reached()
    assert envoy.wait_counter("webhook_guard.p_twitter.handshake", before + 1) == before + 1


@pytest.mark.parametrize("path", ["/p/twitter", "/p/twitter?crc_token=%3Cscript%3E", "/p/twitter?crc_token=a&crc_token=b"])
def test_twitter_get_that_is_not_a_crc_is_refused(envoy, upstream, path):
    assert get(envoy, path).status == 401
    upstream.assert_nothing_reached()


@pytest.mark.parametrize("name", ["meta", "whatsapp"])
def test_meta_verify_token_handshake_is_answered(envoy, upstream, name):
    before = handshakes(envoy, f"p_{name}")
    resp = get(envoy, f"/p/{name}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={META_VERIFY_TOKEN}")
    assert resp.status == 200, resp.body
    assert resp.body == b"1158201444"
    upstream.assert_nothing_reached()
    assert envoy.wait_counter(f"webhook_guard.p_{name}.handshake", before + 1) == before + 1


@pytest.mark.parametrize("query", ["hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess",
                                   "hub.mode=subscribe&hub.challenge=1158201444",
                                   "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=" + META_VERIFY_TOKEN])
def test_meta_handshake_with_a_wrong_token_is_refused(envoy, upstream, query):
    resp = get(envoy, "/p/meta?" + query)
    assert resp.status == 401
    assert b"1158201444" not in resp.body
    upstream.assert_nothing_reached()


def test_dropbox_challenge_is_echoed(envoy, upstream):
    resp = get(envoy, "/p/dropbox?challenge=d7b6c0a1e2f3")
    assert resp.status == 200
    assert resp.body == b"d7b6c0a1e2f3"
    assert resp.header("x-content-type-options") == "nosniff"
    upstream.assert_nothing_reached()
    assert get(envoy, "/p/dropbox?challenge=%3Cb%3E").status == 401


def test_trello_head_is_answered(envoy, upstream):
    """Trello checks a callback URL with a HEAD before it creates the webhook."""
    resp = harness.http1(envoy.port, "HEAD", "/p/trello", [])
    assert resp.status == 200
    upstream.assert_nothing_reached()
    # Any other GET/HEAD-less method on the route is still refused.
    assert get(envoy, "/p/trello").status == 405


def test_okta_verification_is_answered_after_its_authorization(envoy, upstream):
    before = handshakes(envoy, "p_okta")
    challenge = "X8bqAq2wF4Rx1dQfTc3aG6tn4Vz5yBnU"
    resp = harness.http1(envoy.port, "GET", "/p/okta",
                         [("Authorization", SECRET), ("X-Okta-Verification-Challenge", challenge)], b"")
    assert resp.status == 200, resp.body
    assert resp.header("content-type") == "application/json"
    assert resp.json() == {"verification": challenge}
    upstream.assert_nothing_reached()
    assert envoy.wait_counter("webhook_guard.p_okta.handshake", before + 1) == before + 1
    for auth in ([("Authorization", SECRET + "-not")], []):
        resp = harness.http1(envoy.port, "GET", "/p/okta", [*auth, ("X-Okta-Verification-Challenge", challenge)], b"")
        assert resp.status == 401
        assert challenge.encode() not in resp.body
    upstream.assert_nothing_reached()


def test_figma_passcode_is_checked(envoy, upstream):
    headers, body = signed("figma")
    doc = json.loads(body)
    doc["passcode"] = SECRET[:-1]
    assert post(envoy, "/p/figma", headers, json.dumps(doc).encode()).status == 401
    upstream.assert_nothing_reached()


def test_adyen_every_item_must_verify(envoy, upstream):
    """One bad item refuses the whole notification: the genuine items with it reach nothing."""
    headers, body = signed("adyen")
    doc = json.loads(body)
    second = doc["notificationItems"][1]["NotificationRequestItem"]
    second["amount"]["value"] = 101
    assert post(envoy, "/p/adyen", headers, json.dumps(doc).encode()).status == 401
    second["amount"]["value"] = 100
    assert post(envoy, "/p/adyen", headers, json.dumps(doc).encode()).status == 200
    upstream.reset()
    # A signed field sent as another JSON type than Adyen writes, and a body that is no
    # notification, are refused and counted by name.
    before = envoy.counter("webhook_guard.p_adyen.denied.signed_field_malformed") or 0
    second["amount"]["value"] = "100"
    assert post(envoy, "/p/adyen", headers, json.dumps(doc).encode()).status == 401
    assert post(envoy, "/p/adyen", headers, b'{"live":"false"}').status == 401
    assert envoy.wait_counter("webhook_guard.p_adyen.denied.signed_field_malformed", before + 2) == before + 2
    assert post(envoy, "/p/adyen", headers, b"[accepted]").status == 401
    envoy.wait_log(r"denied route=p_adyen reason=payload_not_json")
    upstream.assert_nothing_reached()


def test_handshake_counter_exists_only_where_a_scheme_has_one(envoy):
    stats = envoy.stats()
    assert "webhook_guard.p_zoom.handshake" in stats
    assert "webhook_guard.p_github.handshake" not in stats


def test_a_route_without_a_get_handshake_still_refuses_get(envoy, upstream):
    assert get(envoy, "/p/github").status == 405
    upstream.assert_nothing_reached()


def test_no_secret_in_the_log(envoy):
    envoy.assert_no_secret_in_log(extra=[DISCORD_SEED, SENDGRID_SEED, V1A_SEED, META_VERIFY_TOKEN, TELNYX_SEED, AIRTABLE_SECRET,
                                         ADYEN_KEY])
