"""How every provider preset signs a request, for the end-to-end suite.

Where the provider publishes a Python SDK, the SDK signs (twilio's RequestValidator,
svix, standardwebhooks, stripe, slack_sdk, PyNaCl for Discord; SendGrid's EventWebhook
helper checks the ECDSA signature before it is sent). The others follow the provider's
documented recipe with Python's hmac/hashlib: an implementation independent of the
plugin's Rust code.

Each signer takes (secret, body, ctx) and returns (headers, body): a few providers put
the signature or the timestamp in the body.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

import nacl.signing
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

Headers = list[tuple[str, str]]


@dataclass
class Ctx:
    """What a signer may need: the path the request goes to, the URL the provider calls,
    and the time to sign at (unix seconds)."""
    path: str
    url: str
    now: float = field(default_factory=time.time)

    @property
    def ts(self) -> str:
        return str(int(self.now))

    @property
    def ms(self) -> str:
        return str(int(self.now * 1000))

    @property
    def rfc3339(self) -> str:
        return datetime.datetime.fromtimestamp(self.now, datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _mac(key: str | bytes, msg: str | bytes, algo: str = "sha256") -> bytes:
    key = key.encode() if isinstance(key, str) else key
    msg = msg.encode() if isinstance(msg, str) else msg
    return hmac.new(key, msg, getattr(hashlib, algo)).digest()


def _hex(*a, **k) -> str:
    return _mac(*a, **k).hex()


def _b64(*a, **k) -> str:
    return base64.b64encode(_mac(*a, **k)).decode()


def _s(body: bytes) -> str:
    return body.decode()


# ---- SDK-signed -------------------------------------------------------------------


def stripe_sdk(secret, body, ctx):
    import stripe
    return [("Stripe-Signature", stripe.WebhookSignature.generate_signature_header(_s(body), secret, int(ctx.now)))], body


def slack_sdk(secret, body, ctx):
    from slack_sdk.signature import SignatureVerifier
    sig = SignatureVerifier(secret).generate_signature(timestamp=ctx.ts, body=body)
    return [("X-Slack-Request-Timestamp", ctx.ts), ("X-Slack-Signature", sig)], body


def standard_sdk(secret, body, ctx):
    from standardwebhooks.webhooks import Webhook
    msg_id = "msg_" + hashlib.sha1(body + ctx.ts.encode()).hexdigest()[:20]
    at = datetime.datetime.fromtimestamp(int(ctx.now), datetime.timezone.utc)
    sig = Webhook(secret).sign(msg_id, at, _s(body))
    return [("webhook-id", msg_id), ("webhook-timestamp", ctx.ts), ("webhook-signature", sig)], body


def svix_sdk(secret, body, ctx):
    from svix.webhooks import Webhook
    msg_id = "msg_" + hashlib.sha1(body + ctx.ts.encode()).hexdigest()[:20]
    at = datetime.datetime.fromtimestamp(int(ctx.now), datetime.timezone.utc)
    sig = Webhook(secret).sign(msg_id, at, _s(body))
    return [("svix-id", msg_id), ("svix-timestamp", ctx.ts), ("svix-signature", sig)], body


TWILIO_FORM = {"CallSid": "CA1234567890ABCDE", "From": "+12349013030", "To": "+18005551212", "Body": "Hello world & more",
               "Digits": "1234"}


def twilio_sdk(secret, body, ctx):
    """Form webhook: the URL then the sorted parameters (RequestValidator.compute_signature)."""
    from twilio.request_validator import RequestValidator
    form = urlencode(TWILIO_FORM).encode()
    sig = RequestValidator(secret).compute_signature(ctx.url, dict(parse_qsl(form.decode())))
    return [("X-Twilio-Signature", sig), ("Content-Type", "application/x-www-form-urlencoded")], form


def twilio_json_sdk(secret, body, ctx):
    """JSON webhook: `bodySHA256` in the query, the URL alone signed. The SDK's own
    validator accepts it before it is sent."""
    from twilio.request_validator import RequestValidator
    v = RequestValidator(secret)
    url = ctx.url + ("&" if "?" in ctx.url else "?") + "bodySHA256=" + hashlib.sha256(body).hexdigest()
    sig = v.compute_signature(url, {})
    assert v.validate(url, _s(body), sig)
    return [("X-Twilio-Signature", sig)], body


def discord_nacl(secret, body, ctx):
    """`secret` is the signing key's seed (hex); Discord signs timestamp + body."""
    key = nacl.signing.SigningKey(bytes.fromhex(secret))
    sig = key.sign(ctx.ts.encode() + body).signature.hex()
    return [("X-Signature-Ed25519", sig), ("X-Signature-Timestamp", ctx.ts)], body


def discord_public_key(seed_hex: str) -> str:
    return nacl.signing.SigningKey(bytes.fromhex(seed_hex)).verify_key.encode().hex()


def standard_v1a_nacl(secret, body, ctx):
    key = nacl.signing.SigningKey(bytes.fromhex(secret))
    msg_id = "msg_v1a_" + ctx.ts
    sig = base64.b64encode(key.sign(f"{msg_id}.{ctx.ts}.".encode() + body).signature).decode()
    return [("webhook-id", msg_id), ("webhook-timestamp", ctx.ts), ("webhook-signature", "v1a," + sig)], body


def standard_public_key(seed_hex: str) -> str:
    return "whpk_" + base64.b64encode(nacl.signing.SigningKey(bytes.fromhex(seed_hex)).verify_key.encode()).decode()


def sendgrid_key(seed: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(seed, ec.SECP256R1())


def sendgrid_public_key(seed: int) -> str:
    """The verification key as SendGrid shows it: base64 DER SubjectPublicKeyInfo."""
    der = sendgrid_key(seed).public_key().public_bytes(serialization.Encoding.DER,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def sendgrid_signed(secret, body, ctx):
    """`secret` is the private scalar (int as text). ECDSA P-256/SHA-256 over timestamp +
    body, base64 DER; SendGrid's own EventWebhook helper must accept it."""
    from sendgrid.helpers.eventwebhook import EventWebhook
    key = sendgrid_key(int(secret))
    sig = base64.b64encode(key.sign(ctx.ts.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    helper = EventWebhook(sendgrid_public_key(int(secret)))
    assert helper.verify_signature(_s(body), sig, ctx.ts), "SendGrid's helper refuses the signature"
    return [("X-Twilio-Email-Event-Webhook-Signature", sig), ("X-Twilio-Email-Event-Webhook-Timestamp", ctx.ts)], body


# ---- documented recipes -------------------------------------------------------------


def body_header(name: str, prefix: str = "", algo: str = "sha256", enc: str = "hex"):
    def sign(secret, body, ctx):
        sig = _hex(secret, body, algo) if enc == "hex" else _b64(secret, body, algo)
        return [(name, prefix + sig)], body
    return sign


def github(secret, body, ctx):
    return body_header("X-Hub-Signature-256", "sha256=")(secret, body, ctx)


def shopify(secret, body, ctx):
    """The HMAC, and the four headers Shopify's library refuses a request without."""
    required = [("X-Shopify-Topic", "orders/create"), ("X-Shopify-Shop-Domain", "e2e-shop.myshopify.com"),
                ("X-Shopify-API-Version", "2025-10"), ("X-Shopify-Webhook-Id", hashlib.sha256(body).hexdigest()[:32])]
    return body_header("X-Shopify-Hmac-Sha256", enc="b64")(secret, body, ctx)[0] + required, body


def gitlab(secret, body, ctx):
    return [("X-Gitlab-Token", secret)], body


def square(secret, body, ctx):
    return [("x-square-hmacsha256-signature", _b64(secret, ctx.url.encode() + body))], body


def zoom(secret, body, ctx):
    return [("x-zm-request-timestamp", ctx.ts), ("x-zm-signature", "v0=" + _hex(secret, f"v0:{ctx.ts}:".encode() + body))], body


def paddle(secret, body, ctx):
    return [("Paddle-Signature", f"ts={ctx.ts};h1=" + _hex(secret, f"{ctx.ts}:".encode() + body))], body


def linear(secret, body, ctx):
    doc = json.loads(body)
    doc["webhookTimestamp"] = int(ctx.ms)
    body = json.dumps(doc, ensure_ascii=False).encode()
    return [("Linear-Signature", _hex(secret, body))], body


HUBSPOT_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
                  "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


def hubspot(secret, body, ctx):
    uri = ctx.url
    for enc, dec in HUBSPOT_DECODE.items():
        uri = uri.replace(enc, dec).replace(enc.lower(), dec)
    sig = _b64(secret, "POST" + uri + _s(body) + ctx.ms)
    return [("X-HubSpot-Signature-v3", sig), ("X-HubSpot-Request-Timestamp", ctx.ms)], body


def list_signed(name: str, ts_key: str, sig_key: str, sep: str, joiner: str, ts: str = "s"):
    def sign(secret, body, ctx):
        t = ctx.ts if ts == "s" else ctx.ms
        return [(name, f"{ts_key}={t}{sep}{sig_key}=" + _hex(secret, f"{t}{joiner}".encode() + body))], body
    return sign


def pagerduty(secret, body, ctx):
    return [("X-PagerDuty-Signature", "v1=" + "0" * 64 + ",v1=" + _hex(secret, body))], body


def twitch(secret, body, ctx):
    msg_id = "e76c6bd4-55c9-4987-8304-" + ctx.ts[-12:].rjust(12, "0")
    sig = _hex(secret, (msg_id + ctx.rfc3339).encode() + body)
    return [("Twitch-Eventsub-Message-Id", msg_id), ("Twitch-Eventsub-Message-Timestamp", ctx.rfc3339),
            ("Twitch-Eventsub-Message-Type", "notification"), ("Twitch-Eventsub-Message-Signature", "sha256=" + sig)], body


def circleci(secret, body, ctx):
    return [("circleci-signature", "v1=" + _hex(secret, body))], body


def docusign(secret, body, ctx):
    return [("X-DocuSign-Signature-1", _b64("another-connect-key", body)), ("X-DocuSign-Signature-2", _b64(secret, body))], body


def box(secret, body, ctx):
    t = ctx.rfc3339
    return [("box-delivery-id", "f96bb54b-ee16-4fc5-aa65-8c2d9e5b546f"), ("box-delivery-timestamp", t),
            ("box-signature-version", "1"), ("box-signature-algorithm", "HmacSHA256"),
            ("box-signature-primary", _b64(secret, body + t.encode())),
            ("box-signature-secondary", _b64("secondary-key", body + t.encode()))], body


def teams(secret, body, ctx):
    return [("Authorization", "HMAC " + _b64(base64.b64decode(secret), body))], body


def mailgun(secret, body, ctx):
    token = hashlib.sha256(body + ctx.ts.encode()).hexdigest()[:50]
    sig = {"timestamp": ctx.ts, "token": token, "signature": _hex(secret, ctx.ts + token)}
    return [], json.dumps({"signature": sig, "event-data": json.loads(body)}).encode()


def workos(secret, body, ctx):
    return [("WorkOS-Signature", f"t={ctx.ms}, v1=" + _hex(secret, f"{ctx.ms}.".encode() + body))], body


def zendesk(secret, body, ctx):
    t = datetime.datetime.fromtimestamp(int(ctx.now), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [("X-Zendesk-Webhook-Signature", _b64(secret, t.encode() + body)),
            ("X-Zendesk-Webhook-Signature-Timestamp", t)], body


def trello(secret, body, ctx):
    return [("X-Trello-Webhook", _b64(secret, body + ctx.url.encode(), "sha1"))], body


def mandrill(secret, body, ctx):
    events = json.dumps([{"event": "send", "msg": json.loads(body)}])
    params = {"mandrill_events": events}
    signed = ctx.url + "".join(k + params[k] for k in sorted(params))
    return [("X-Mandrill-Signature", _b64(secret, signed, "sha1")),
            ("Content-Type", "application/x-www-form-urlencoded")], urlencode(params).encode()


def buildkite(secret, body, ctx):
    return [("X-Buildkite-Signature", f"timestamp={ctx.ts},signature=" + _hex(secret, f"{ctx.ts}.".encode() + body))], body


def ts_header_signed(sig_name: str, ts_name: str, signed: str, enc: str = "hex", unit: str = "s"):
    """A signature header and a timestamp header; `signed` is a format string over
    `ts` and `body` (the body as text)."""
    def sign(secret, body, ctx):
        t = ctx.ts if unit == "s" else ctx.ms
        msg = signed.format(ts=t, body=_s(body))
        return [(ts_name, t), (sig_name, _hex(secret, msg) if enc == "hex" else _b64(secret, msg))], body
    return sign


def airtable(secret, body, ctx):
    """The configured secret is the webhook's `macSecretBase64`: the key is its bytes."""
    return [("X-Airtable-Content-MAC", "hmac-sha256=" + _hex(base64.b64decode(secret), body))], body


def sinch(secret, body, ctx):
    nonce = "01FJ" + hashlib.sha1(body + ctx.ts.encode()).hexdigest()[:22].upper()
    sig = _b64(secret, body + f".{nonce}.{ctx.ts}".encode())
    return [("x-sinch-webhook-signature-nonce", nonce), ("x-sinch-webhook-signature-timestamp", ctx.ts),
            ("x-sinch-webhook-signature", sig)], body


def okta(secret, body, ctx):
    """The event hook's configured authorization header value, sent as is."""
    return [("Authorization", secret)], body


def figma(secret, body, ctx):
    """The webhook's passcode rides in the JSON body."""
    doc = {"event_type": "FILE_UPDATE", "passcode": secret, "webhook_id": "22", "data": json.loads(body)}
    return [], json.dumps(doc).encode()


def hubspot_digest(version: str):
    """v1: SHA-256 of client secret + body; v2: of client secret + method + URL + body."""
    def sign(secret, body, ctx):
        signed = secret.encode() + (body if version == "v1" else b"POST" + ctx.url.encode() + body)
        return [("X-HubSpot-Signature", hashlib.sha256(signed).hexdigest()), ("X-HubSpot-Signature-Version", version)], body
    return sign


def telnyx_nacl(secret, body, ctx):
    """`secret` is the signing key's seed (hex); Telnyx signs `<timestamp>|<body>`."""
    key = nacl.signing.SigningKey(bytes.fromhex(secret))
    sig = base64.b64encode(key.sign(ctx.ts.encode() + b"|" + body).signature).decode()
    return [("telnyx-signature-ed25519", sig), ("telnyx-timestamp", ctx.ts)], body


def telnyx_public_key(seed_hex: str) -> str:
    return base64.b64encode(nacl.signing.SigningKey(bytes.fromhex(seed_hex)).verify_key.encode()).decode()


ADYEN_PSP = "8816178914079738"


def adyen_sdk(secret, body, ctx):
    """A notification of two items, each signed by Adyen's SDK
    (`Adyen.util.generate_notification_sig`); the secret is the HMAC key in hex. The
    first item's amount is the body's `data.amount`, so a changed amount is a changed
    signed field."""
    from Adyen.util import generate_notification_sig
    data = json.loads(body)
    items = [
        {"amount": {"currency": "EUR", "value": data.get("data", {}).get("amount", 4200)},
         "eventCode": "AUTHORISATION", "eventDate": "2026-12-06T12:00:00+01:00", "merchantAccountCode": "E2EShop",
         "merchantReference": str(data.get("id", "order-1")), "pspReference": ADYEN_PSP, "reason": "1234:7777:12/2012",
         "success": "true", "paymentMethod": "visa", "operations": ["CANCEL", "CAPTURE", "REFUND"]},
        {"amount": {"currency": "EUR", "value": 100}, "eventCode": "REFUND", "merchantAccountCode": "E2EShop",
         "merchantReference": "refund-1", "originalReference": ADYEN_PSP, "pspReference": "8816178914079739",
         "success": "true"},
    ]
    for item in items:
        item["additionalData"] = {"hmacSignature": generate_notification_sig(item, secret).decode()}
    doc = {"live": "false", "notificationItems": [{"NotificationRequestItem": i} for i in items]}
    return [], json.dumps(doc).encode()


# name -> (signer, how it was made)
SIGNERS = {
    "github": (github, "recipe"),
    "stripe": (stripe_sdk, "stripe SDK"),
    "slack": (slack_sdk, "slack_sdk"),
    "shopify": (shopify, "recipe"),
    "standard": (standard_sdk, "standardwebhooks SDK"),
    "svix": (svix_sdk, "svix SDK"),
    "clerk": (svix_sdk, "svix SDK (Clerk sends through Svix)"),
    "resend": (svix_sdk, "svix SDK (Resend sends through Svix)"),
    "gitlab": (gitlab, "recipe"),
    "bitbucket": (body_header("X-Hub-Signature", "sha256="), "recipe"),
    "twilio": (twilio_sdk, "twilio RequestValidator"),
    "square": (square, "recipe"),
    "zoom": (zoom, "recipe"),
    "paddle": (paddle, "recipe"),
    "linear": (linear, "recipe"),
    "intercom": (body_header("X-Hub-Signature", "sha1=", "sha1"), "recipe"),
    "hubspot": (hubspot, "recipe"),
    "typeform": (body_header("Typeform-Signature", "sha256=", enc="b64"), "recipe"),
    "calendly": (list_signed("Calendly-Webhook-Signature", "t", "v1", ",", "."), "recipe"),
    "pagerduty": (pagerduty, "recipe"),
    "twitch": (twitch, "recipe"),
    "meta": (body_header("X-Hub-Signature-256", "sha256="), "recipe"),
    "facebook": (body_header("X-Hub-Signature-256", "sha256="), "recipe"),
    "instagram": (body_header("X-Hub-Signature-256", "sha256="), "recipe"),
    "whatsapp": (body_header("X-Hub-Signature-256", "sha256="), "recipe"),
    "sentry": (body_header("Sentry-Hook-Signature"), "recipe"),
    "vercel": (body_header("x-vercel-signature", algo="sha1"), "recipe"),
    "lemonsqueezy": (body_header("X-Signature"), "recipe"),
    "razorpay": (body_header("X-Razorpay-Signature"), "recipe"),
    "mux": (list_signed("Mux-Signature", "t", "v1", ",", "."), "recipe"),
    "segment": (body_header("X-Signature", algo="sha1"), "recipe"),
    "circleci": (circleci, "recipe"),
    "docusign": (docusign, "recipe"),
    "dropbox": (body_header("X-Dropbox-Signature"), "recipe"),
    "box": (box, "recipe"),
    "coinbase": (body_header("X-CC-Webhook-Signature"), "recipe"),
    "jira": (body_header("X-Hub-Signature", "sha256="), "recipe"),
    "webex": (body_header("X-Spark-Signature", algo="sha1"), "recipe"),
    "microsoft_teams": (teams, "recipe"),
    "twitter": (body_header("x-twitter-webhooks-signature", "sha256=", enc="b64"), "recipe"),
    "xero": (body_header("x-xero-signature", enc="b64"), "recipe"),
    "mailgun": (mailgun, "recipe"),
    "discord": (discord_nacl, "PyNaCl"),
    "sendgrid": (sendgrid_signed, "cryptography, checked by sendgrid's EventWebhook"),
    "workos": (workos, "recipe"),
    "zendesk": (zendesk, "recipe"),
    "trello": (trello, "recipe"),
    "mandrill": (mandrill, "recipe"),
    "gitea": (body_header("X-Gitea-Signature"), "recipe"),
    "terraform": (body_header("X-TFE-Notification-Signature", algo="sha512"), "recipe"),
    "buildkite": (buildkite, "recipe"),
    "calcom": (body_header("X-Cal-Signature-256"), "recipe"),
    "airtable": (airtable, "recipe"),
    "customerio": (ts_header_signed("X-CIO-Signature", "X-CIO-Timestamp", "v0:{ts}:{body}"), "recipe"),
    "webflow": (ts_header_signed("x-webflow-signature", "x-webflow-timestamp", "{ts}:{body}", unit="ms"), "recipe"),
    "replicate": (standard_sdk, "standardwebhooks SDK (Replicate follows Standard Webhooks)"),
    "openai": (standard_sdk, "standardwebhooks SDK (OpenAI follows Standard Webhooks)"),
    "brex": (standard_sdk, "standardwebhooks SDK (Brex signs the Standard Webhooks way)"),
    "sinch": (sinch, "recipe"),
    "front": (ts_header_signed("X-Front-Signature", "X-Front-Request-Timestamp", "{ts}:{body}", enc="b64", unit="ms"),
              "recipe"),
    "telnyx": (telnyx_nacl, "PyNaCl"),
    "okta": (okta, "recipe"),
    "figma": (figma, "recipe"),
    "hubspot_v1": (hubspot_digest("v1"), "recipe"),
    "hubspot_v2": (hubspot_digest("v2"), "recipe"),
    "mollie": (body_header("X-Mollie-Signature", "sha256="), "recipe"),
    "onfido": (body_header("X-SHA2-Signature"), "recipe"),
    "gocardless": (body_header("Webhook-Signature"), "recipe"),
    "cashfree": (ts_header_signed("x-webhook-signature", "x-webhook-timestamp", "{ts}{body}", enc="b64", unit="ms"),
                 "recipe"),
    "adyen": (adyen_sdk, "adyen SDK"),
    "notion": (body_header("X-Notion-Signature", "sha256="), "recipe"),
    "checkout": (body_header("Cko-Signature"), "recipe"),
    "woocommerce": (body_header("X-WC-Webhook-Signature", enc="b64"), "recipe"),
    "tally": (body_header("Tally-Signature", enc="b64"), "recipe"),
    "paystack": (body_header("x-paystack-signature", algo="sha512"), "recipe"),
    "heroku": (body_header("Heroku-Webhook-Hmac-SHA256", enc="b64"), "recipe"),
    "launchdarkly": (body_header("X-LD-Signature"), "recipe"),
    "helpscout": (body_header("X-HelpScout-Signature", algo="sha1", enc="b64"), "recipe"),
    "asana": (body_header("X-Hook-Signature"), "recipe"),
    "alchemy": (body_header("X-Alchemy-Signature"), "recipe"),
    "dwolla": (body_header("X-Request-Signature-SHA-256"), "recipe"),
    "coinify": (body_header("X-Coinify-Webhook-Signature"), "recipe"),
}
