"""The Python signers the e2e tests trust, checked against the providers' published
examples, so a passing e2e test means the plugin agrees with the providers, not only with
our own helper. No Envoy needed."""

from __future__ import annotations

import base64
import hashlib
import hmac

import signing


def test_github_documented_example():
    # docs.github.com, "Validating webhook deliveries": testing the webhook payload validation.
    assert signing.github("It's a Secret to Everybody", b"Hello, World!") == [
        ("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    ]


def test_slack_documented_example():
    # api.slack.com, "Verifying requests from Slack": the worked example.
    body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
            b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    assert signing.slack("8f742231b10e8888abcd99yyyzzz85a5", body, 1531420618) == [
        ("X-Slack-Request-Timestamp", "1531420618"),
        ("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"),
    ]


def test_standard_webhooks_reference_vector():
    # The Standard Webhooks reference libraries' test vector.
    sig = signing.standard_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                     1614265330, b'{"test": 2432232314}')
    assert sig == "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_stripe_key_is_the_whole_whsec_string():
    body, ts, secret = b'{"id":"evt_1"}', 1700000000, "whsec_abc"
    expected = hmac.new(b"whsec_abc", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signing.stripe(secret, body, ts) == [("Stripe-Signature", f"t=1700000000,v1={expected}")]


def test_shopify_is_base64_of_the_same_mac_github_hexes():
    body = b'{"id":1}'
    hexsig = signing.github("shpss_x", body)[0][1].removeprefix("sha256=")
    assert base64.b64decode(signing.shopify("shpss_x", body)[0][1]).hex() == hexsig


def test_generic_template_rendering():
    headers = signing.generic("k", b"B", header="X-S", algorithm="sha1", signed_payload="{method} {path}:{id}.{timestamp}.{body}",
                              timestamp_header="X-T", timestamp=7, id_header="X-I", msg_id="m1", path="/p")
    expected = hmac.new(b"k", b"POST /p:m1.7.B", hashlib.sha1).hexdigest()
    assert headers == [("X-S", expected), ("X-T", "7"), ("X-I", "m1")]
    # A body containing a placeholder is data, not template.
    headers = signing.generic("k", b"{timestamp}", timestamp_header="X-T", timestamp=1, signed_payload="{timestamp}.{body}")
    assert headers[0][1] == hmac.new(b"k", b"1.{timestamp}", hashlib.sha256).hexdigest()
