"""The providers' own verifiers are the reference (SPEC 2.1): for every preset whose
provider ships a verifier in its Python SDK, genuine requests and mutations of them
(case, prefixes, whitespace, separators, order, unknown and repeated items, another key,
stale and future timestamps, body bytes, headers declaring another version or algorithm)
go to the SDK's verifier and through Envoy, and both must give the same answer: what the
SDK accepts is forwarded untouched, what it refuses is refused and reaches nothing.

The only disagreements allowed are listed in EXCEPTIONS, each with its reason; a listed
case must still disagree (so the list cannot rot), and the same way round as stated.

One Envoy serves every SDK: one route per preset, many requests."""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
import io
import json
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import parse_qsl

import pytest

import harness

SECRET = "e2e-sdk-secret-5e0f1b"
OTHER = "e2e-sdk-secret-not-ours"
BOX_SECONDARY = "e2e-sdk-box-secondary-77"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"e2e sdk agreement standard key 42").decode()
STANDARD_OTHER = "whsec_" + base64.b64encode(b"another standard key, not ours!").decode()
SENDGRID_SEED = 0x5EED5EED5EED
HOST = "example.test"

BODY = json.dumps({"id": "evt_sdk_1", "type": "test.event", "event": {"amount": 4200, "note": "h\u00e9llo"}},
                  ensure_ascii=False).encode()
BODY2 = b'{"id":"evt_sdk_2","event":{"type":"x"},"list":[1,2,3]}'
FORM = b"CallSid=CA123&From=%2B12349013030&To=%2B18005551212&Body=Hello+world&Digits=1234"

Headers = list[tuple[str, str]]


@dataclass
class Case:
    label: str
    headers: Headers
    body: bytes
    query: str = ""


@dataclass
class Sdk:
    """One provider: its preset's route, how it signs, what its SDK says of a request."""
    preset: str
    package: str
    route: dict
    cases: Callable[[int], list[Case]]
    accepts: Callable[[Case], bool]
    path: str = ""

    def __post_init__(self):
        self.path = self.path or f"/a/{self.preset}"

    def url(self, case: Case) -> str:
        return f"http://{HOST}{self.path}{case.query}"


# Disagreements that are ours by design, each with why. Keyed by (preset, case label);
# the value says which way the answers differ and the reason.
EXCEPTIONS: dict[tuple[str, str], tuple[str, str]] = {}


def exception(preset: str, label: str, we: str, why: str) -> None:
    EXCEPTIONS[(preset, label)] = (we, why)


REPEATED = "we refuse a repeated signature, timestamp or id header; a framework hands the SDK one of them"
SKEW = "the SDK sets no limit on a timestamp ahead of now; we allow the shared clock-skew allowance (60 s)"


# ---- helpers ------------------------------------------------------------------------


def mac(key: str | bytes, msg: bytes, algo=hashlib.sha256) -> bytes:
    return hmac.new(key.encode() if isinstance(key, str) else key, msg, algo).digest()


def hx(key, msg: bytes) -> str:
    return mac(key, msg).hex()


def b64(key, msg: bytes) -> str:
    return base64.b64encode(mac(key, msg)).decode()


def swap_case(s: str) -> str:
    return s.swapcase()


def replace_header(headers: Headers, name: str, value: str | None) -> Headers:
    out = [(k, v) for k, v in headers if k.lower() != name.lower()]
    return out if value is None else out + [(name, value)]


def header(headers: Headers, name: str) -> str:
    return next(v for k, v in headers if k.lower() == name.lower())


def body_mutations(sign: Callable[[bytes], Headers], body: bytes = BODY) -> list[Case]:
    """The genuine request's headers with its body changed: one byte, a space, a byte
    cut, a non-UTF-8 byte; and bodies signed as they are that the SDK may not read."""
    h = sign(body)
    flips = [
        ("body: first byte changed", bytes([body[0] ^ 0x01]) + body[1:]),
        ("body: a middle byte changed", body[:20] + bytes([body[20] ^ 0x20]) + body[21:]),
        ("body: last byte cut", body[:-1]),
        ("body: a space appended", body + b" "),
        ("body: digit changed", body.replace(b"4200", b"4201", 1) if b"4200" in body else body + b"1"),
        ("body: non-UTF-8 byte", body[:5] + b"\xff" + body[6:]),
    ]
    cases = [Case(label, h, b) for label, b in flips]
    cases.append(Case("signed body that is not UTF-8", sign(b'{"a":"\xff"}'), b'{"a":"\xff"}'))
    cases.append(Case("signed body that is not JSON", sign(b"plain text"), b"plain text"))
    cases.append(Case("signed second JSON body", sign(BODY2), BODY2))
    return cases


def truthy(f: Callable[[], object]) -> bool:
    """An SDK's answer: its truth, False on any exception it raises."""
    try:
        return bool(f())
    except Exception:
        return False


def no_raise(f: Callable[[], object]) -> bool:
    try:
        f()
        return True
    except Exception:
        return False


def lower_keys(headers: Headers) -> dict[str, str]:
    """The header map a web framework hands an SDK: one value per name (the first), with
    the surrounding spaces an HTTP parser drops."""
    out: dict[str, str] = {}
    for k, v in headers:
        out.setdefault(k.lower(), v.strip(" \t"))
    return out


# ---- stripe -------------------------------------------------------------------------


def stripe_cases(now: int) -> list[Case]:
    def sig(ts, body=BODY, key=SECRET):
        return hx(key, f"{ts}.".encode() + body)

    def h(value: str) -> Headers:
        return [("Stripe-Signature", value)]

    s = sig(now)
    return [
        Case("genuine", h(f"t={now},v1={s}"), BODY),
        *body_mutations(lambda b: h(f"t={now},v1={sig(now, b)}")),
        Case("another key", h(f"t={now},v1={sig(now, key=OTHER)}"), BODY),
        Case("upper-case hex", h(f"t={now},v1={s.upper()}"), BODY),
        Case("v1 first, then t", h(f"v1={s},t={now}"), BODY),
        Case("space after comma", h(f"t={now}, v1={s}"), BODY),
        Case("space before t", h(f" t={now},v1={s}"), BODY),
        Case("unknown item", h(f"t={now},x=1,v1={s}"), BODY),
        Case("v0 beside v1", h(f"t={now},v1={s},v0={s}"), BODY),
        Case("v0 only", h(f"t={now},v0={s}"), BODY),
        Case("pair-less item", h(f"t={now},junk,v1={s}"), BODY),
        Case("empty item", h(f"t={now},,v1={s}"), BODY),
        Case("trailing comma", h(f"t={now},v1={s},"), BODY),
        Case("semicolon separator", h(f"t={now};v1={s}"), BODY),
        Case("bad v1 then good v1", h(f"t={now},v1={'0' * 64},v1={s}"), BODY),
        Case("undecodable v1 then good v1", h(f"t={now},v1=zz,v1={s}"), BODY),
        Case("two t, signed one first", h(f"t={now},t={now - 7},v1={s}"), BODY),
        Case("two t, signed one second", h(f"t={now - 7},t={now},v1={s}"), BODY),
        Case("no t", h(f"v1={s}"), BODY),
        Case("v1 value with a second '='", h(f"t={now},v1={s}=x"), BODY),
        Case("t with a plus sign", h(f"t=+{now},v1={s}"), BODY),
        Case("truncated signature", h(f"t={now},v1={s[:-1]}"), BODY),
        Case("V1 label in upper case", h(f"t={now},V1={s}"), BODY),
        Case("200 s old", h(f"t={now - 200},v1={sig(now - 200)}"), BODY),
        Case("400 s old", h(f"t={now - 400},v1={sig(now - 400)}"), BODY),
        Case("an hour old", h(f"t={now - 3600},v1={sig(now - 3600)}"), BODY),
        Case("30 s ahead", h(f"t={now + 30},v1={sig(now + 30)}"), BODY),
        Case("200 s ahead", h(f"t={now + 200},v1={sig(now + 200)}"), BODY),
        Case("header missing", [], BODY),
        Case("header repeated", h(f"t={now},v1={s}") + h(f"t={now},v1={sig(now, key=OTHER)}"), BODY),
    ]


def stripe_accepts(c: Case) -> bool:
    import stripe
    value = lower_keys(c.headers).get("stripe-signature")
    # What stripe.Webhook.construct_event checks: the header, at its default tolerance.
    return no_raise(lambda: stripe.WebhookSignature.verify_header(c.body, value, SECRET, tolerance=300))


exception("stripe", "v1 value with a second '='", "refuses",
          "Stripe's parser splits `v1=<sig>=x` into three and takes the middle; we read the value after the "
          "first '=' and no genuine signature holds an '='")
exception("stripe", "t with a plus sign", "refuses",
          "Stripe's int() reads `+<t>` and signs the number; we take digits only, as Stripe sends them")
exception("stripe", "200 s ahead", "refuses", SKEW)
exception("stripe", "header repeated", "refuses", REPEATED)


# ---- slack --------------------------------------------------------------------------


def slack_cases(now: int) -> list[Case]:
    def h(ts, sig=None, body=BODY, key=SECRET, prefix="v0=") -> Headers:
        sig = sig if sig is not None else hx(key, f"v0:{ts}:".encode() + body)
        return [("X-Slack-Signature", prefix + sig), ("X-Slack-Request-Timestamp", str(ts))]

    s = hx(SECRET, f"v0:{now}:".encode() + BODY)
    return [
        Case("genuine", h(now), BODY),
        *body_mutations(lambda b: h(now, body=b)),
        Case("another key", h(now, key=OTHER), BODY),
        Case("upper-case hex", h(now, s.upper()), BODY),
        Case("V0= prefix", h(now, prefix="V0="), BODY),
        Case("no prefix", h(now, prefix=""), BODY),
        Case("v1= prefix", h(now, prefix="v1="), BODY),
        Case("sha256= prefix", h(now, prefix="sha256="), BODY),
        Case("timestamp changed", h(now, s)[:1] + [("X-Slack-Request-Timestamp", str(now + 1))], BODY),
        Case("timestamp missing", h(now)[:1], BODY),
        Case("signature missing", h(now)[1:], BODY),
        Case("timestamp with a leading zero", h(f"0{now}"), BODY),
        Case("timestamp with a plus sign", h(f"+{now}"), BODY),
        Case("timestamp in milliseconds", h(now * 1000), BODY),
        Case("timestamp not a number", h("soon"), BODY),
        Case("truncated signature", h(now, s[:-2]), BODY),
        Case("signature with a suffix", h(now, s + "00"), BODY),
        Case("200 s old", h(now - 200), BODY),
        Case("400 s old", h(now - 400), BODY),
        Case("an hour old", h(now - 3600), BODY),
        Case("30 s ahead", h(now + 30), BODY),
        Case("200 s ahead", h(now + 200), BODY),
        Case("400 s ahead", h(now + 400), BODY),
        Case("signature header repeated", h(now) + h(now, key=OTHER)[:1], BODY),
    ]


def slack_accepts(c: Case) -> bool:
    from slack_sdk.signature import SignatureVerifier
    return truthy(lambda: SignatureVerifier(SECRET).is_valid_request(c.body, lower_keys(c.headers)))


exception("slack", "timestamp with a plus sign", "refuses",
          "the SDK's int() reads `+<t>`; we take the digits Slack sends")
exception("slack", "signature header repeated", "refuses", REPEATED)


# ---- Standard Webhooks family: standardwebhooks, svix, resend -----------------------


def standard_cases(family: str, key: str = STANDARD_SECRET) -> Callable[[int], list[Case]]:
    def raw_key(k: str) -> bytes:
        return base64.b64decode(k.removeprefix("whsec_"))

    def sig(msg_id, ts, body=BODY, k=key) -> str:
        return base64.b64encode(mac(raw_key(k), f"{msg_id}.{ts}.".encode() + body)).decode()

    def h(ts, value=None, msg_id="msg_1", fam=family, body=BODY, k=key) -> Headers:
        value = value if value is not None else "v1," + sig(msg_id, ts, body, k)
        return [(f"{fam}-id", msg_id), (f"{fam}-timestamp", str(ts)), (f"{fam}-signature", value)]

    def cases(now: int) -> list[Case]:
        s = sig("msg_1", now)
        bad = base64.b64encode(b"\0" * 32).decode()
        other = "webhook" if family == "svix" else "svix"
        return [
            Case("genuine", h(now), BODY),
            *body_mutations(lambda b: h(now, body=b)),
            Case("another key", h(now, k=STANDARD_OTHER), BODY),
            Case("the other header family", h(now, fam=other), BODY),
            Case("mixed families", h(now)[:2] + h(now, fam=other)[2:], BODY),
            Case("both families", h(now) + h(now, fam=other), BODY),
            Case("two signatures, good second", h(now, f"v1,{bad} v1,{s}"), BODY),
            Case("two signatures, good first", h(now, f"v1,{s} v1,{bad}"), BODY),
            Case("two spaces between", h(now, f"v1,{bad}  v1,{s}"), BODY),
            Case("tab after the signature", h(now, f"v1,{s}\tv1,{bad}"), BODY),
            Case("comma separated list", h(now, f"v1,{bad},v1,{s}"), BODY),
            Case("v1a label", h(now, f"v1a,{s}"), BODY),
            Case("v2 label", h(now, f"v2,{s}"), BODY),
            Case("unknown version first", h(now, f"v9,abcd v1,{s}"), BODY),
            Case("no label", h(now, s), BODY),
            Case("upper-case label", h(now, f"V1,{s}"), BODY),
            Case("base64 without padding", h(now, f"v1,{s.rstrip('=')}"), BODY),
            Case("base64url alphabet", h(now, "v1," + s.replace("+", "-").replace("/", "_")), BODY),
            Case("undecodable signature then good", h(now, f"v1,!!! v1,{s}"), BODY),
            Case("id changed", h(now, f"v1,{s}", msg_id="msg_2"), BODY),
            Case("id missing", h(now)[1:], BODY),
            Case("timestamp as a decimal", h(f"{now}.0", f"v1,{s}"), BODY),
            Case("timestamp in milliseconds", h(now * 1000), BODY),
            Case("200 s old", h(now - 200), BODY),
            Case("400 s old", h(now - 400), BODY),
            Case("200 s ahead", h(now + 200), BODY),
            Case("400 s ahead", h(now + 400), BODY),
            Case("signature header repeated", h(now) + h(now, k=STANDARD_OTHER)[2:], BODY),
        ]
    return cases


def standardwebhooks_accepts(c: Case) -> bool:
    from standardwebhooks.webhooks import Webhook
    return no_raise(lambda: Webhook(STANDARD_SECRET).verify(c.body, lower_keys(c.headers), json_parse=False))


def svix_accepts(c: Case) -> bool:
    from svix.webhooks import Webhook
    return no_raise(lambda: Webhook(STANDARD_SECRET).verify(c.body, lower_keys(c.headers)))


def resend_accepts(c: Case) -> bool:
    import resend
    h = lower_keys(c.headers)
    # The application hands Resend's verifier the svix-* headers Resend sends.
    headers = {"id": h.get("svix-id", ""), "timestamp": h.get("svix-timestamp", ""),
               "signature": h.get("svix-signature", "")}
    # The payload is text: a body that is not UTF-8 cannot be handed over.
    return no_raise(lambda: resend.Webhooks.verify({"payload": c.body.decode(), "headers": headers,
                                                    "webhook_secret": STANDARD_SECRET}))


for _p in ("standard", "svix", "resend"):
    exception(_p, "signature header repeated", "refuses", REPEATED)
for _p in ("standard", "svix"):
    exception(_p, "timestamp as a decimal", "refuses",
              "the library reads the timestamp with float() and signs its whole seconds; senders write whole seconds")
exception("standard", "the other header family", "forwards",
          "the preset also reads the svix-* spelling of the same scheme (SPEC 2.1); the library reads webhook-* only")
exception("standard", "both families", "refuses",
          "both header families at once is ambiguous; the library reads webhook-* and ignores the rest")
exception("svix", "both families", "refuses",
          "both header families at once is ambiguous; Svix's library takes svix-*")
exception("svix", "mixed families", "refuses",
          "Svix's library takes each header from either family; we take all three from the family of the "
          "signature header, as Svix sends them")
exception("resend", "v1a label", "refuses",
          "Resend's verifier ignores the version label; a v1a item is an Ed25519 signature by the standard")
exception("resend", "v2 label", "refuses",
          "Resend's verifier ignores the version label; we take v1 (HMAC) items only")
exception("resend", "upper-case label", "refuses",
          "Resend's verifier ignores the version label; we take v1 (HMAC) items only")


# ---- twilio -------------------------------------------------------------------------

TWILIO_PUBLIC = "https://hooks.example.com/a/twilio"


def twilio_sig(url: str, form: bytes, key: str = SECRET) -> str:
    s = url + "".join(k + v for k, v in sorted(parse_qsl(form.decode(), keep_blank_values=True)))
    return base64.b64encode(mac(key, s.encode(), hashlib.sha1)).decode()


def twilio_cases(now: int) -> list[Case]:
    url = TWILIO_PUBLIC + "?x=1"
    s = twilio_sig(url, FORM)
    form = [("Content-Type", "application/x-www-form-urlencoded")]

    def h(sig: str, extra: Headers = ()) -> Headers:
        return form + [("X-Twilio-Signature", sig), *extra]

    reordered = b"&".join(reversed(FORM.split(b"&")))
    body_json = b'{"a":1}'
    digest = hashlib.sha256(body_json).hexdigest()
    json_url = f"{TWILIO_PUBLIC}?bodySHA256={digest}"
    json_sig = twilio_sig(json_url, b"")
    return [
        Case("genuine", h(s), FORM, "?x=1"),
        Case("parameters in another order", h(s), reordered, "?x=1"),
        Case("a parameter changed", h(s), FORM.replace(b"1234", b"1235"), "?x=1"),
        Case("a parameter added", h(s), FORM + b"&Extra=1", "?x=1"),
        Case("a parameter dropped", h(s), FORM.rsplit(b"&", 1)[0], "?x=1"),
        Case("query changed", h(s), FORM, "?x=2"),
        Case("query dropped", h(s), FORM, ""),
        Case("another key", h(twilio_sig(url, FORM, OTHER)), FORM, "?x=1"),
        Case("upper-cased signature", h(s.upper()), FORM, "?x=1"),
        Case("signature without padding", h(s.rstrip("=")), FORM, "?x=1"),
        Case("signature with a space", h(" " + s[:10] + " " + s[10:]), FORM, "?x=1"),
        Case("signature over the URL with :443", h(twilio_sig(TWILIO_PUBLIC.replace(".com/", ".com:443/")
                                                               + "?x=1", FORM)), FORM, "?x=1"),
        Case("signature over http://", h(twilio_sig(url.replace("https", "http"), FORM)), FORM, "?x=1"),
        Case("SHA-256 signature", h(base64.b64encode(mac(SECRET, (url + "".join(
            k + v for k, v in sorted(parse_qsl(FORM.decode())))).encode())).decode()), FORM, "?x=1"),
        Case("shared-key settings declaring HMAC_SHA1",
             h(s, [("X-Twilio-Webhooks-Signature-Settings", "key=k1,algorithm=HMAC_SHA1")]), FORM, "?x=1"),
        Case("shared-key settings declaring HMAC_SHA256",
             h(s, [("X-Twilio-Webhooks-Signature-Settings", "key=k1,algorithm=HMAC_SHA256")]), FORM, "?x=1"),
        Case("shared-key settings declaring an unknown algorithm",
             h(s, [("X-Twilio-Webhooks-Signature-Settings", "algorithm=HMAC_SHA512")]), FORM, "?x=1"),
        Case("signature missing", form, FORM, "?x=1"),
        Case("signature repeated", h(s) + [("X-Twilio-Signature", s)], FORM, "?x=1"),
        Case("JSON with bodySHA256", [("Content-Type", "application/json"), ("X-Twilio-Signature", json_sig)],
             body_json, f"?bodySHA256={digest}"),
        Case("JSON with another body", [("Content-Type", "application/json"), ("X-Twilio-Signature", json_sig)],
             b'{"a":2}', f"?bodySHA256={digest}"),
        Case("JSON with an upper-case bodySHA256",
             [("Content-Type", "application/json"),
              ("X-Twilio-Signature", twilio_sig(f"{TWILIO_PUBLIC}?bodySHA256={digest.upper()}", b""))],
             body_json, f"?bodySHA256={digest.upper()}"),
        Case("JSON with a bodySHA256 of another body", [("Content-Type", "application/json"),
                                                        ("X-Twilio-Signature", json_sig)],
             body_json, f"?bodySHA256={hashlib.sha256(b'x').hexdigest()}"),
        *[Case(f"form byte {i} changed", h(s), FORM[:i] + bytes([FORM[i] ^ 0x01]) + FORM[i + 1:], "?x=1")
          for i in (0, 8, 30, 60)],
        Case("form value case changed", h(s), FORM.replace(b"Hello", b"hello"), "?x=1"),
        Case("form with a repeated parameter", h(twilio_sig(url, FORM + b"&Digits=9")), FORM + b"&Digits=9", "?x=1"),
        Case("empty form", h(twilio_sig(url, b"")), b"", "?x=1"),
        Case("another key, JSON", [("Content-Type", "application/json"),
                                   ("X-Twilio-Signature", twilio_sig(json_url, b"", OTHER))],
             body_json, f"?bodySHA256={digest}"),
    ]


class _Form(dict):
    """Flask's MultiDict, as far as Twilio's validator reads it."""
    def __init__(self, pairs):
        super().__init__()
        for k, v in pairs:
            self.setdefault(k, []).append(v)

    def getall(self, k):
        return self[k]


def twilio_accepts(c: Case) -> bool:
    from twilio.request_validator import RequestValidator, get_signature_algorithm
    h = lower_keys(c.headers)
    url = TWILIO_PUBLIC + c.query
    if h.get("content-type", "").startswith("application/json"):
        params = c.body.decode()
    else:
        params = _Form(parse_qsl(c.body.decode(), keep_blank_values=True))
    algorithm = get_signature_algorithm(h.get("x-twilio-webhooks-signature-settings"))
    return truthy(lambda: RequestValidator(SECRET).validate(url, params, h.get("x-twilio-signature", ""),
                                                             algorithm))


exception("twilio", "signature over the URL with :443", "refuses",
          "Twilio's validator tries the URL with and without the default port; we sign the URL as configured "
          "(`public_url`), as Twilio calls it")
exception("twilio", "shared-key settings declaring HMAC_SHA1", "refuses",
          "a shared-key signature is not the auth token's; the preset verifies auth-token signatures, which come "
          "without the settings header")
exception("twilio", "signature repeated", "refuses", REPEATED)


# ---- sendgrid -----------------------------------------------------------------------


def sendgrid_key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.derive_private_key(SENDGRID_SEED, ec.SECP256R1())


def sendgrid_public() -> str:
    from cryptography.hazmat.primitives import serialization
    der = sendgrid_key().public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def sendgrid_cases(now: int) -> list[Case]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

    key = sendgrid_key()

    def der(ts, body=BODY, k=key) -> bytes:
        return k.sign(f"{ts}".encode() + body, ec.ECDSA(hashes.SHA256()))

    def h(ts, sig: bytes | str | None = None, body=BODY) -> Headers:
        sig = sig if sig is not None else der(ts, body)
        text = sig if isinstance(sig, str) else base64.b64encode(sig).decode()
        return [("X-Twilio-Email-Event-Webhook-Signature", text), ("X-Twilio-Email-Event-Webhook-Timestamp", str(ts))]

    d = der(now)
    r, s = decode_dss_signature(d)
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    other = ec.derive_private_key(SENDGRID_SEED + 1, ec.SECP256R1())
    text = base64.b64encode(d).decode()
    # A DER signature of 70 or 71 bytes ends in base64 padding, where Python's lenient
    # decoder stops.
    padded = text
    while not padded.endswith("="):
        padded = base64.b64encode(der(now)).decode()
    return [
        Case("genuine", h(now, d), BODY),
        *body_mutations(lambda b: h(now, body=b)),
        Case("another key", h(now, der(now, k=other)), BODY),
        Case("raw r||s signature", h(now, raw), BODY),
        Case("high-S signature", h(now, encode_dss_signature(r, n - s)), BODY),
        Case("timestamp changed", h(now, d)[:1] + [("X-Twilio-Email-Event-Webhook-Timestamp", str(now + 1))], BODY),
        Case("timestamp missing", h(now, d)[:1], BODY),
        Case("signature missing", h(now, d)[1:], BODY),
        Case("base64 without padding", h(now, text.rstrip("=")), BODY),
        Case("base64 with a space inside", h(now, text[:8] + " " + text[8:]), BODY),
        Case("base64url alphabet", h(now, text.replace("+", "-").replace("/", "_")), BODY),
        Case("truncated signature", h(now, text[:-4]), BODY),
        Case("200 s old", h(now - 200), BODY),
        Case("an hour old", h(now - 3600), BODY),
        Case("30 s ahead", h(now + 30), BODY),
        Case("an hour ahead", h(now + 3600), BODY),
        Case("timestamp not a number", h("soon"), BODY),
        Case("timestamp in milliseconds", h(now * 1000), BODY),
        Case("signature of another timestamp", h(now, der(now - 1)), BODY),
        Case("signature of another body", h(now, der(now, BODY2)), BODY),
        Case("hex signature", h(now, d.hex()), BODY),
        Case("signature doubled", h(now, padded + padded), BODY),
        Case("signature header repeated", h(now, d) + h(now, der(now, k=other))[:1], BODY),
    ]


def sendgrid_accepts(c: Case) -> bool:
    from sendgrid.helpers.eventwebhook import EventWebhook
    h = lower_keys(c.headers)
    helper = EventWebhook(sendgrid_public())
    return truthy(lambda: helper.verify_signature(c.body.decode(), h["x-twilio-email-event-webhook-signature"],
                                                  h["x-twilio-email-event-webhook-timestamp"]))


exception("sendgrid", "an hour old", "refuses",
          "SendGrid's helper checks no time; we hold the timestamp to 300 s, as for every signed timestamp")
exception("sendgrid", "an hour ahead", "refuses",
          "SendGrid's helper checks no time; we allow the clock-skew allowance ahead")
exception("sendgrid", "timestamp not a number", "refuses",
          "SendGrid's helper signs whatever the header holds; a timestamp must be unix seconds for us to hold "
          "it to the window")
exception("sendgrid", "base64 with a space inside", "refuses",
          "Python's lenient b64decode drops characters outside the alphabet; SendGrid sends plain base64")
exception("sendgrid", "timestamp in milliseconds", "refuses",
          "SendGrid's helper checks no time, so a timestamp in milliseconds (far ahead) passes it; we read unix "
          "seconds and hold them to the window")
exception("sendgrid", "signature doubled", "refuses",
          "Python's lenient b64decode stops at the first padding and reads the first signature; we decode "
          "strict base64")
exception("sendgrid", "signature header repeated", "refuses", REPEATED)


# ---- square -------------------------------------------------------------------------


def square_url() -> str:
    return f"http://{HOST}/a/square"


def square_cases(now: int) -> list[Case]:
    def h(sig: str) -> Headers:
        return [("x-square-hmacsha256-signature", sig)]

    url = square_url()
    s = b64(SECRET, url.encode() + BODY)
    return [
        Case("genuine", h(s), BODY),
        *body_mutations(lambda b: h(b64(SECRET, url.encode() + b))),
        Case("another key", h(b64(OTHER, url.encode() + BODY)), BODY),
        Case("signed without the URL", h(b64(SECRET, BODY)), BODY),
        Case("signed over https", h(b64(SECRET, url.replace("http:", "https:").encode() + BODY)), BODY),
        Case("signed with a trailing slash", h(b64(SECRET, (url + "/").encode() + BODY)), BODY),
        Case("upper-cased signature", h(s.upper()), BODY),
        Case("signature without padding", h(s.rstrip("=")), BODY),
        Case("hex signature", h(mac(SECRET, url.encode() + BODY).hex()), BODY),
        Case("sha256= prefix", h("sha256=" + s), BODY),
        Case("signed empty body", h(b64(SECRET, url.encode())), b""),
        Case("legacy SHA-1 header only", [("x-square-signature", base64.b64encode(
            mac(SECRET, url.encode() + BODY, hashlib.sha1)).decode())], BODY),
        Case("signature missing", [], BODY),
        Case("signature repeated", h(s) + h(b64(OTHER, url.encode() + BODY)), BODY),
        *[Case(f"body byte {i} changed", h(s), BODY[:i] + bytes([BODY[i] ^ 0x02]) + BODY[i + 1:], "")
          for i in (1, 10, 40, 60)],
        Case("signature of another body", h(b64(SECRET, url.encode() + BODY2)), BODY),
        Case("signature with a space", h(s[:5] + " " + s[5:]), BODY),
        Case("base64url signature", h(s.replace("+", "-").replace("/", "_")), BODY),
        Case("truncated signature", h(s[:-4]), BODY),
        Case("signature with a suffix", h(s + "AA=="), BODY),
    ]


def square_accepts(c: Case) -> bool:
    from square.utils.webhooks_helper import verify_signature
    h = lower_keys(c.headers)
    return truthy(lambda: verify_signature(request_body=c.body.decode(), signature_header=h.get(
        "x-square-hmacsha256-signature", ""), signature_key=SECRET, notification_url=square_url()))


exception("square", "signature repeated", "refuses", REPEATED)


# ---- paddle -------------------------------------------------------------------------


def paddle_cases(now: int) -> list[Case]:
    def sig(ts, body=BODY, key=SECRET) -> str:
        return hx(key, f"{ts}:".encode() + body)

    def h(value: str) -> Headers:
        return [("Paddle-Signature", value)]

    s = sig(now)
    return [
        Case("genuine", h(f"ts={now};h1={s}"), BODY),
        *body_mutations(lambda b: h(f"ts={now};h1={sig(now, b)}")),
        Case("another key", h(f"ts={now};h1={sig(now, key=OTHER)}"), BODY),
        Case("upper-case hex", h(f"ts={now};h1={s.upper()}"), BODY),
        Case("h1 first", h(f"h1={s};ts={now}"), BODY),
        Case("comma separator", h(f"ts={now},h1={s}"), BODY),
        Case("space after semicolon", h(f"ts={now}; h1={s}"), BODY),
        Case("unknown key", h(f"ts={now};h2=ab;h1={s}"), BODY),
        Case("pair-less item", h(f"ts={now};junk;h1={s}"), BODY),
        Case("empty item", h(f"ts={now};;h1={s}"), BODY),
        Case("value with a second '='", h(f"ts={now};h1={s}=x"), BODY),
        Case("two h1, good second", h(f"ts={now};h1={'0' * 64};h1={s}"), BODY),
        Case("two ts, signed one last", h(f"ts={now - 1};ts={now};h1={s}"), BODY),
        Case("two ts, signed one first", h(f"ts={now};ts={now - 1};h1={s}"), BODY),
        Case("no ts", h(f"h1={s}"), BODY),
        Case("no h1", h(f"ts={now}"), BODY),
        Case("3 s old", h(f"ts={now - 3};h1={sig(now - 3)}"), BODY),
        Case("30 s old", h(f"ts={now - 30};h1={sig(now - 30)}"), BODY),
        Case("30 s ahead", h(f"ts={now + 30};h1={sig(now + 30)}"), BODY),
        Case("header missing", [], BODY),
        Case("h1 label in upper case", h(f"ts={now};H1={s}"), BODY),
        Case("truncated signature", h(f"ts={now};h1={s[:-2]}"), BODY),
        Case("header repeated", h(f"ts={now};h1={s}") * 2, BODY),
    ]


def paddle_accepts(c: Case) -> bool:
    from paddle_billing.Notifications.Secret import Secret
    from paddle_billing.Notifications.Verifier import Verifier

    class Request:
        def __init__(self):
            self.body = c.body
            # Paddle's examples pass the framework's header map, names as sent.
            self.headers = {"Paddle-Signature": v for k, v in c.headers if k.lower() == "paddle-signature"}

    return truthy(lambda: Verifier().verify(Request(), Secret(SECRET)))


exception("paddle", "header repeated", "refuses", REPEATED)


# ---- razorpay, coinbase: hex HMAC of the body ---------------------------------------


def body_hex_cases(name: str) -> Callable[[int], list[Case]]:
    def cases(now: int) -> list[Case]:
        def h(v: str) -> Headers:
            return [(name, v)]
        s = hx(SECRET, BODY)
        return [
            Case("genuine", h(s), BODY),
            *body_mutations(lambda b: h(hx(SECRET, b))),
            Case("another key", h(hx(OTHER, BODY)), BODY),
            Case("upper-case hex", h(s.upper()), BODY),
            Case("mixed-case hex", h(s[:10].upper() + s[10:]), BODY),
            Case("sha256= prefix", h("sha256=" + s), BODY),
            Case("base64 signature", h(base64.b64encode(bytes.fromhex(s)).decode()), BODY),
            Case("truncated signature", h(s[:-2]), BODY),
            Case("signature with a suffix", h(s + "00"), BODY),
            Case("space inside", h(s[:32] + " " + s[32:]), BODY),
            Case("SHA-1 signature", h(mac(SECRET, BODY, hashlib.sha1).hex()), BODY),
            Case("SHA-512 signature", h(mac(SECRET, BODY, hashlib.sha512).hex()), BODY),
            Case("signature of another body", h(hx(SECRET, BODY2)), BODY),
            Case("signed empty body", h(hx(SECRET, b"")), b""),
            Case("signed JSON without an event", h(hx(SECRET, b'{"id":1}')), b'{"id":1}'),
            Case("signature missing", [], BODY),
            Case("signature repeated", h(s) + h(hx(OTHER, BODY)), BODY),
            *[Case(f"body byte {i} changed", h(s), BODY[:i] + bytes([BODY[i] ^ 0x04]) + BODY[i + 1:]) for i in (2, 33)],
            Case("key as the signature", h(SECRET), BODY),
            Case("zeros", h("0" * 64), BODY),
            Case("signature of the body and a newline", h(hx(SECRET, BODY + b"\n")), BODY),
        ]
    return cases


def razorpay_accepts(c: Case) -> bool:
    from razorpay.utility.utility import Utility
    h = lower_keys(c.headers)
    return truthy(lambda: Utility().verify_webhook_signature(c.body.decode(), h["x-razorpay-signature"], SECRET))


def coinbase_accepts(c: Case) -> bool:
    from coinbase_commerce.webhook import Webhook
    h = lower_keys(c.headers)
    return no_raise(lambda: Webhook.construct_event(c.body.decode(), h["x-cc-webhook-signature"], SECRET))


exception("razorpay", "signature repeated", "refuses", REPEATED)
exception("coinbase", "signature repeated", "refuses", REPEATED)
exception("coinbase", "signed JSON without an event", "forwards",
          "Coinbase's construct_event also wants an `event` member to build its object; the signature "
          "verifies, and what the event holds is the application's to read")


def onfido_accepts(c: Case) -> bool:
    """Onfido's verifier takes the body as text, checks the signature, then builds its event
    model: an error from the model (ValueError) comes after the signature verified."""
    from onfido.webhook_event_verifier import OnfidoInvalidSignatureError, WebhookEventVerifier
    h = lower_keys(c.headers)
    if "x-sha2-signature" not in h:
        return False
    try:
        text = c.body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    try:
        WebhookEventVerifier(SECRET).read_payload(text, h["x-sha2-signature"])
    except (OnfidoInvalidSignatureError, TypeError):
        return False
    except ValueError:
        return True
    return True


def gocardless_accepts(c: Case) -> bool:
    """GoCardless's parse() verifies with _verify_signature before it reads the events; the
    verdict on the signature is that function's."""
    from gocardless_pro import webhooks
    from gocardless_pro.errors import InvalidSignatureError
    h = lower_keys(c.headers)
    if "webhook-signature" not in h:
        return False
    try:
        webhooks._verify_signature(c.body, SECRET, h["webhook-signature"])
    except (InvalidSignatureError, TypeError):
        return False
    return True


exception("onfido", "signature repeated", "refuses", REPEATED)
exception("gocardless", "signature repeated", "refuses", REPEATED)


def openai_accepts(c: Case) -> bool:
    from openai import OpenAI
    client = OpenAI(api_key="e2e-not-used", webhook_secret=STANDARD_SECRET)
    return no_raise(lambda: client.webhooks.verify_signature(c.body, lower_keys(c.headers)))


exception("openai", "tab after the signature", "refuses",
          "OpenAI's verifier splits the list at any whitespace; Standard Webhooks separates items with spaces, "
          "and we split there only")
exception("openai", "no label", "refuses",
          "OpenAI's verifier compares an item without `v1,` whole, as a bare signature; OpenAI sends `v1,<sig>`, "
          "and we take signatures under that label only")
exception("openai", "signature header repeated", "refuses", REPEATED)


# ---- discord (discord-interactions) -------------------------------------------------

DISCORD_SEED = bytes(range(32, 64))
DISCORD_OTHER_SEED = bytes(range(64, 96))


def discord_public() -> str:
    import nacl.signing
    return nacl.signing.SigningKey(DISCORD_SEED).verify_key.encode().hex()


def discord_cases(now: int) -> list[Case]:
    import nacl.signing
    key, other = nacl.signing.SigningKey(DISCORD_SEED), nacl.signing.SigningKey(DISCORD_OTHER_SEED)

    def sig(ts, body=BODY, k=key) -> str:
        return k.sign(str(ts).encode() + body).signature.hex()

    def h(ts, s=None, body=BODY, k=key) -> Headers:
        return [("X-Signature-Ed25519", s if s is not None else sig(ts, body, k)), ("X-Signature-Timestamp", str(ts))]

    s = sig(now)
    return [
        Case("genuine", h(now), BODY),
        *body_mutations(lambda b: h(now, body=b)),
        Case("another key", h(now, k=other), BODY),
        Case("upper-case hex", h(now, s.upper()), BODY),
        Case("spaces between hex pairs", h(now, " ".join(s[i:i + 2] for i in range(0, len(s), 2))), BODY),
        Case("base64 signature", h(now, base64.b64encode(bytes.fromhex(s)).decode()), BODY),
        Case("truncated signature", h(now, s[:-2]), BODY),
        Case("signature with a suffix", h(now, s + "00"), BODY),
        Case("flipped last bit", h(now, s[:-1] + ("0" if s[-1] != "0" else "1")), BODY),
        Case("timestamp changed", h(now, s)[:1] + [("X-Signature-Timestamp", str(now + 1))], BODY),
        Case("timestamp missing", h(now)[:1], BODY),
        Case("signature missing", h(now)[1:], BODY),
        Case("signature of the body alone", h(now, key.sign(BODY).signature.hex()), BODY),
        Case("200 s old", h(now - 200), BODY),
        Case("an hour old", h(now - 3600), BODY),
        Case("30 s ahead", h(now + 30), BODY),
        Case("200 s ahead", h(now + 200), BODY),
        Case("signature header repeated", h(now) + h(now, k=other)[:1], BODY),
        Case("timestamp not a number", h("soon"), BODY),
        Case("timestamp with a leading zero", h(f"0{now}"), BODY),
        Case("timestamp in milliseconds", h(now * 1000), BODY),
        Case("mixed-case hex", h(now, s[:16].upper() + s[16:]), BODY),
        Case("signed empty body", h(now, body=b""), b""),
    ]


def discord_accepts(c: Case) -> bool:
    from discord_interactions import verify_key
    h = lower_keys(c.headers)
    if "x-signature-ed25519" not in h or "x-signature-timestamp" not in h:
        return False
    with contextlib.redirect_stdout(io.StringIO()):  # the helper prints why it refuses
        return truthy(lambda: verify_key(c.body, h["x-signature-ed25519"], h["x-signature-timestamp"],
                                         discord_public()))


exception("discord", "spaces between hex pairs", "refuses",
          "the helper's bytes.fromhex() skips spaces between pairs; Discord sends plain hex, and we read that")
exception("discord", "an hour old", "refuses", "the helper sets no window; we allow 300 s, as the row says")
exception("discord", "200 s ahead", "refuses", SKEW)
exception("discord", "signature header repeated", "refuses", REPEATED)
exception("discord", "timestamp in milliseconds", "refuses",
          "the helper signs any timestamp; read as the seconds Discord sends, this one is far ahead of our clock")
exception("discord", "timestamp not a number", "refuses",
          "the helper signs any timestamp text; we read the unix seconds Discord sends")


# ---- sinch (conversation API callbacks) ---------------------------------------------


def sinch_cases(now: int) -> list[Case]:
    def h(ts, nonce="01FJA8B4A7BM43YGWSG9GBV067", sig=None, body=BODY, key=SECRET) -> Headers:
        sig = sig if sig is not None else b64(key, body + f".{nonce}.{ts}".encode())
        return [("x-sinch-webhook-signature", sig), ("x-sinch-webhook-signature-nonce", nonce),
                ("x-sinch-webhook-signature-timestamp", str(ts)),
                ("x-sinch-webhook-signature-algorithm", "HmacSHA256")]

    nonce = "01FJA8B4A7BM43YGWSG9GBV067"
    s = b64(SECRET, BODY + f".{nonce}.{now}".encode())
    raw = mac(SECRET, BODY + f".{nonce}.{now}".encode())
    return [
        Case("genuine", h(now), BODY),
        *body_mutations(lambda b: h(now, body=b)),
        Case("another key", h(now, key=OTHER), BODY),
        Case("nonce changed", h(now, nonce="01FJA8B4A7BM43YGWSG9GBV068", sig=s), BODY),
        Case("timestamp changed", h(now + 1, sig=s), BODY),
        Case("nonce missing", [x for x in h(now) if x[0] != "x-sinch-webhook-signature-nonce"], BODY),
        Case("timestamp missing", [x for x in h(now) if x[0] != "x-sinch-webhook-signature-timestamp"], BODY),
        Case("signature missing", h(now)[1:], BODY),
        Case("hex signature", h(now, sig=raw.hex()), BODY),
        Case("base64 without padding", h(now, sig=s.rstrip("=")), BODY),
        Case("truncated signature", h(now, sig=s[:-4]), BODY),
        Case("signature of body.timestamp.nonce", h(now, sig=b64(SECRET, BODY + f".{now}.{nonce}".encode())), BODY),
        Case("signature of the body alone", h(now, sig=b64(SECRET, BODY)), BODY),
        Case("SHA-1 signature", h(now, sig=base64.b64encode(mac(SECRET, BODY + f".{nonce}.{now}".encode(),
                                                                 hashlib.sha1)).decode()), BODY),
        Case("200 s old", h(now - 200), BODY),
        Case("an hour old", h(now - 3600), BODY),
        Case("30 s ahead", h(now + 30), BODY),
        Case("200 s ahead", h(now + 200), BODY),
        Case("timestamp in milliseconds", h(now * 1000), BODY),
        Case("signature header repeated", h(now) + h(now, key=OTHER)[:1], BODY),
        Case("signed empty body", h(now, body=b""), b""),
        Case("signature in lower case", h(now, sig=s.lower()), BODY),
        Case("another algorithm declared", h(now)[:3] + [("x-sinch-webhook-signature-algorithm", "HmacSHA1")], BODY),
    ]


def sinch_accepts(c: Case) -> bool:
    from sinch.domains.conversation.sinch_events.v1.conversation_sinch_event import ConversationSinchEvent
    headers = lower_keys(c.headers)
    headers.setdefault("content-type", "application/json")
    return truthy(lambda: ConversationSinchEvent(SECRET).validate_authentication_header(headers, c.body))


exception("sinch", "an hour old", "refuses", "Sinch's validator sets no window; we allow 300 s, as the row says")
exception("sinch", "200 s ahead", "refuses", SKEW)
exception("sinch", "timestamp in milliseconds", "refuses",
          "Sinch's validator signs any timestamp text; read as the seconds Sinch sends, this one is far ahead")
exception("sinch", "signature header repeated", "refuses", REPEATED)


# ---- cashfree -----------------------------------------------------------------------


def cashfree_cases(now: int) -> list[Case]:
    def h(ms, sig=None, body=BODY, key=SECRET) -> Headers:
        sig = sig if sig is not None else b64(key, str(ms).encode() + body)
        return [("x-webhook-signature", sig), ("x-webhook-timestamp", str(ms))]

    ms = now * 1000 + 250
    s = b64(SECRET, str(ms).encode() + BODY)
    raw = mac(SECRET, str(ms).encode() + BODY)
    return [
        Case("genuine", h(ms), BODY),
        *body_mutations(lambda b: h(ms, body=b)),
        Case("another key", h(ms, key=OTHER), BODY),
        Case("base64url signature", h(ms, base64.urlsafe_b64encode(raw).decode()), BODY),
        Case("base64 without padding", h(ms, s.rstrip("=")), BODY),
        Case("hex signature", h(ms, raw.hex()), BODY),
        Case("sha256= prefix", h(ms, "sha256=" + s), BODY),
        Case("truncated signature", h(ms, s[:-4]), BODY),
        Case("timestamp changed", h(ms, s)[:1] + [("x-webhook-timestamp", str(ms + 1))], BODY),
        Case("timestamp in seconds", h(now), BODY),
        Case("timestamp missing", h(ms)[:1], BODY),
        Case("signature missing", h(ms)[1:], BODY),
        Case("timestamp not a number", h("soon"), BODY),
        Case("200 s old", h(ms - 200_000), BODY),
        Case("400 s old", h(ms - 400_000), BODY),
        Case("30 s ahead", h(ms + 30_000), BODY),
        Case("200 s ahead", h(ms + 200_000), BODY),
        Case("signature header repeated", h(ms) + h(ms, key=OTHER)[:1], BODY),
        Case("body and timestamp swapped", h(ms, b64(SECRET, BODY + str(ms).encode())), BODY),
        Case("signature of the body alone", h(ms, b64(SECRET, BODY)), BODY),
        Case("signature in lower case", h(ms, s.lower()), BODY),
        Case("signed empty body", h(ms, body=b""), b""),
        Case("SHA-1 signature", h(ms, base64.b64encode(mac(SECRET, str(ms).encode() + BODY, hashlib.sha1)).decode()),
             BODY),
    ]


def cashfree_accepts(c: Case) -> bool:
    """Cashfree's PGVerifyWebhookSignature takes the body as text and compares the base64
    strings; it then reads the event's `type`, which is the application's part."""
    from cashfree_pg.api_client import Cashfree
    h = lower_keys(c.headers)
    if "x-webhook-signature" not in h or "x-webhook-timestamp" not in h:
        return False
    try:
        text = c.body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    cf = Cashfree(XEnvironment=Cashfree.XEnvironment, XClientId="e2e", XClientSecret=SECRET)
    expected = base64.b64encode(mac(SECRET, (h["x-webhook-timestamp"] + text).encode())).decode()
    try:
        cf.PGVerifyWebhookSignature(h["x-webhook-signature"], text, h["x-webhook-timestamp"])
    except Exception:
        # Refused by the comparison, or by reading the verified event (no `type`, not JSON).
        return h["x-webhook-signature"] == expected
    return True


exception("cashfree", "400 s old", "refuses", "Cashfree's helper sets no window; we allow 300 s, as the row says")
exception("cashfree", "200 s ahead", "refuses", SKEW)
exception("cashfree", "signature header repeated", "refuses", REPEATED)
exception("cashfree", "timestamp in seconds", "refuses",
          "Cashfree sends milliseconds; a seconds timestamp reads as 1970 and is outside our window (the helper "
          "signs any text)")
exception("cashfree", "timestamp not a number", "refuses",
          "the helper signs any timestamp text; we read the milliseconds Cashfree sends")


# ---- hubspot v3 ---------------------------------------------------------------------


def hubspot_cases(now: int) -> list[Case]:
    url = f"http://{HOST}/a/hubspot"

    def h(ms, body=BODY, key=SECRET, method="POST", u=url, enc=None) -> Headers:
        sig = base64.b64encode(mac(key, f"{method}{u}".encode() + body + str(ms).encode())).decode()
        return [("X-HubSpot-Signature-v3", enc(sig) if enc else sig), ("X-HubSpot-Request-Timestamp", str(ms))]

    ms = now * 1000
    return [
        Case("genuine", h(ms), BODY),
        *body_mutations(lambda b: h(ms, b)),
        Case("another key", h(ms, key=OTHER), BODY),
        Case("signed as GET", h(ms, method="GET"), BODY),
        Case("signed over another URL", h(ms, u=url + "x"), BODY),
        Case("signed over https", h(ms, u=url.replace("http:", "https:")), BODY),
        Case("upper-cased signature", h(ms, enc=str.upper), BODY),
        Case("signature without padding", h(ms, enc=lambda s: s.rstrip("=")), BODY),
        Case("timestamp changed", h(ms)[:1] + [("X-HubSpot-Request-Timestamp", str(ms + 1))], BODY),
        Case("timestamp in seconds", h(now), BODY),
        Case("timestamp missing", h(ms)[:1], BODY),
        Case("signature missing", h(ms)[1:], BODY),
        Case("200 s old", h(ms - 200_000), BODY),
        Case("400 s old", h(ms - 400_000), BODY),
        Case("an hour old", h(ms - 3_600_000), BODY),
        Case("30 s ahead", h(ms + 30_000), BODY),
        Case("200 s ahead", h(ms + 200_000), BODY),
        Case("timestamp with a fraction", h(f"{ms}.5"), BODY),
        Case("v2 signature in the v3 header", [("X-HubSpot-Signature-v3", hashlib.sha256(
            (SECRET + "POST" + url).encode() + BODY).hexdigest()), ("X-HubSpot-Request-Timestamp", str(ms))], BODY),
        Case("signed without the method", [("X-HubSpot-Signature-v3", base64.b64encode(mac(
            SECRET, url.encode() + BODY + str(ms).encode())).decode()), ("X-HubSpot-Request-Timestamp", str(ms))], BODY),
        Case("signed with the timestamp first", [("X-HubSpot-Signature-v3", base64.b64encode(mac(
            SECRET, f"{ms}POST{url}".encode() + BODY)).decode()), ("X-HubSpot-Request-Timestamp", str(ms))], BODY),
        Case("truncated signature", h(ms, enc=lambda x: x[:-4]), BODY),
        Case("signature header repeated", h(ms) + h(ms, key=OTHER)[:1], BODY),
    ]


def hubspot_accepts(c: Case) -> bool:
    from hubspot.utils.signature import Signature
    h = lower_keys(c.headers)
    return truthy(lambda: Signature.is_valid(
        signature=h["x-hubspot-signature-v3"], client_secret=SECRET, request_body=c.body.decode(),
        http_uri=f"http://{HOST}/a/hubspot", http_method="POST", signature_version="v3",
        timestamp=h.get("x-hubspot-request-timestamp")))


exception("hubspot", "200 s ahead", "refuses", SKEW)
exception("hubspot", "timestamp with a fraction", "refuses",
          "the SDK reads the timestamp with float(); HubSpot sends whole milliseconds")
exception("hubspot", "signature header repeated", "refuses", REPEATED)


# ---- hubspot v1 and v2: a SHA-256 digest of the secret and the request ---------------


def hubspot_digest_cases(version: str) -> Callable[[int], list[Case]]:
    url = f"http://{HOST}/a/hubspot_{version}"

    def digest(body=BODY, key=SECRET, v=version, u=url, method="POST") -> str:
        source = key.encode() + (body if v == "v1" else method.encode() + u.encode() + body)
        return hashlib.sha256(source).hexdigest()

    def h(sig=None, v=version, **kw) -> Headers:
        return [("X-HubSpot-Signature", sig if sig is not None else digest(**kw)),
                *([("X-HubSpot-Signature-Version", v)] if v is not None else [])]

    def cases(now: int) -> list[Case]:
        d = digest()
        other = "v2" if version == "v1" else "v1"
        return [
            Case("genuine", h(), BODY),
            *body_mutations(lambda b: h(body=b)),
            Case("another key", h(key=OTHER), BODY),
            Case("upper-case hex", h(d.upper()), BODY),
            Case("mixed-case hex", h(d[:8].upper() + d[8:]), BODY),
            Case(f"signed as {other}", h(digest(v=other)), BODY),
            Case(f"declared as {other}", h(v=other), BODY),
            Case("version header missing", h(v=None), BODY),
            Case("version in upper case", h(v=version.upper()), BODY),
            Case("declared as v3", h(v="v3"), BODY),
            Case("HMAC instead of a digest", h(hx(SECRET, BODY)), BODY),
            Case("secret after the body", h(hashlib.sha256(BODY + SECRET.encode()).hexdigest()), BODY),
            Case("base64 signature", h(base64.b64encode(bytes.fromhex(d)).decode()), BODY),
            Case("sha256= prefix", h("sha256=" + d), BODY),
            Case("truncated signature", h(d[:-2]), BODY),
            Case("signature with a suffix", h(d + "00"), BODY),
            Case("signature missing", h()[1:], BODY),
            Case("signature header repeated", h() + h(key=OTHER)[:1], BODY),
            Case("version header repeated", h() + h()[1:], BODY),
            Case("signed empty body", h(body=b""), b""),
            Case("signed for another URL", h(u=url + "/x"), BODY),
            Case("signed for GET", h(method="GET"), BODY),
        ]
    return cases


def hubspot_digest_accepts(version: str) -> Callable[[Case], bool]:
    def accepts(c: Case) -> bool:
        from hubspot.utils.signature import Signature
        h = lower_keys(c.headers)
        if "x-hubspot-signature" not in h:
            return False
        # The application passes the version HubSpot declares beside the signature.
        return truthy(lambda: Signature.is_valid(
            signature=h["x-hubspot-signature"], client_secret=SECRET, request_body=c.body.decode(),
            http_uri=f"http://{HOST}/a/hubspot_{version}", http_method="POST",
            signature_version=h.get("x-hubspot-signature-version")))
    return accepts


for _v in ("v1", "v2"):
    exception(f"hubspot_{_v}", "signature header repeated", "refuses", REPEATED)
    exception(f"hubspot_{_v}", "version header repeated", "refuses", REPEATED)


# ---- box ----------------------------------------------------------------------------


def box_cases(now: int) -> list[Case]:
    def rfc(t: int) -> str:
        return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")

    def h(t=now, primary: str | None = SECRET, secondary: str | None = BOX_SECONDARY, body=BODY,
          version="1", algorithm="HmacSHA256", swap=False) -> Headers:
        ts = rfc(t)
        out = [("box-delivery-id", "d-1"), ("box-delivery-timestamp", ts)]
        if version is not None:
            out.append(("box-signature-version", version))
        if algorithm is not None:
            out.append(("box-signature-algorithm", algorithm))
        sigs = [("box-signature-primary", primary), ("box-signature-secondary", secondary)]
        if swap:
            sigs = [(sigs[0][0], secondary), (sigs[1][0], primary)]
        out += [(n, b64(k, body + ts.encode())) for n, k in sigs if k is not None]
        return out

    escaped = json.dumps(json.loads(BODY)).encode()  # \u00e9 in place of é
    return [
        Case("genuine", h(), BODY),
        *body_mutations(lambda b: h(body=b)),
        Case("primary only", h(secondary=None), BODY),
        Case("secondary only", h(primary=None), BODY),
        Case("keys in each other's header", h(swap=True), BODY),
        Case("secondary key in the primary header only", h(primary=BOX_SECONDARY, secondary=None), BODY),
        Case("primary key in the secondary header only", h(primary=None, secondary=SECRET), BODY),
        Case("another key in both", h(primary=OTHER, secondary=OTHER), BODY),
        Case("version 2", h(version="2"), BODY),
        Case("version missing", h(version=None), BODY),
        Case("algorithm HmacSHA512", h(algorithm="HmacSHA512"), BODY),
        Case("algorithm in lower case", h(algorithm="hmacsha256"), BODY),
        Case("algorithm missing", h(algorithm=None), BODY),
        Case("no signature header", [x for x in h() if "signature-p" not in x[0] and "signature-s" not in x[0]], BODY),
        Case("5 min old", h(now - 300), BODY),
        Case("11 min old", h(now - 660), BODY),
        Case("30 s ahead", h(now + 30), BODY),
        Case("5 min ahead", h(now + 300), BODY),
        Case("timestamp missing", [x for x in h() if x[0] != "box-delivery-timestamp"], BODY),
        Case("body signed with its non-ASCII escaped", h(body=escaped), BODY),
        Case("signed with the timestamp first", [x for x in h() if "signature-" not in x[0] or "v" in x[0]
                                                 or "alg" in x[0]] + [("box-signature-primary", b64(
                                                     SECRET, rfc(now).encode() + BODY))], BODY),
        Case("primary header repeated", h() + [("box-signature-primary", b64(OTHER, BODY))], BODY),
    ]


def box_accepts(c: Case) -> bool:
    from box_sdk_gen.managers.webhooks import WebhooksManager
    return truthy(lambda: WebhooksManager.validate_message(c.body.decode(), lower_keys(c.headers), SECRET,
                                                           secondary_key=BOX_SECONDARY, max_age=600))


exception("box", "30 s ahead", "forwards",
          "Box's SDK refuses any timestamp ahead of its clock; we allow the shared clock-skew allowance (60 s)")
exception("box", "body signed with its non-ASCII escaped", "refuses",
          "Box's SDK also tries the body with non-ASCII escaped as \\uXXXX; we verify the body as sent")
exception("box", "primary header repeated", "refuses", REPEATED)


# ---- mailgun ------------------------------------------------------------------------


def mailgun_cases(now: int) -> list[Case]:
    def body(ts=now, token="t" * 50, sig=None, key=SECRET, extra=None) -> bytes:
        sig = sig if sig is not None else hx(key, f"{ts}{token}".encode())
        doc = {"signature": {"timestamp": str(ts), "token": token, "signature": sig},
               "event-data": {"event": "delivered"}}
        if extra:
            doc.update(extra)
        return json.dumps(doc).encode()

    good = hx(SECRET, f"{now}{'t' * 50}".encode())
    return [
        Case("genuine", [], body()),
        Case("another key", [], body(key=OTHER)),
        Case("upper-case hex", [], body(sig=good.upper())),
        Case("token changed", [], body(sig=good, token="u" * 50)),
        Case("timestamp changed", [], body(ts=now + 1, sig=good)),
        Case("event data changed", [], body(extra={"event-data": {"event": "failed"}})),
        Case("extra member", [], body(extra={"x": 1})),
        Case("timestamp as a number", [], json.dumps({"signature": {"timestamp": now, "token": "t" * 50,
                                                                    "signature": good}}).encode()),
        Case("timestamp with a plus sign", [], body(ts=f"+{now}")),
        Case("token empty", [], body(token="")),
        Case("signature missing", [], json.dumps({"signature": {"timestamp": str(now), "token": "t" * 50}}).encode()),
        Case("signature object missing", [], b'{"event-data":{}}'),
        Case("body not JSON", [], b"signature=x"),
        Case("signature repeated in the JSON", [], body().replace(b'"signature": "',
                                                                  f'"signature": "{"0" * 64}", "signature": "'.encode(),
                                                                  1)),
        Case("truncated signature", [], body(sig=good[:-2])),
        Case("signature with a suffix", [], body(sig=good + "00")),
        Case("10 min old", [], body(ts=now - 600)),
        Case("16 min old", [], body(ts=now - 960)),
        Case("10 min ahead", [], body(ts=now + 600)),
        Case("16 min ahead", [], body(ts=now + 960)),
        Case("timestamp in milliseconds", [], body(ts=now * 1000)),
        Case("timestamp not a number", [], body(ts="soon")),
        Case("zeros", [], body(sig="0" * 64)),
        Case("key as the signature", [], body(sig=SECRET)),
        Case("sha256= prefix", [], body(sig="sha256=" + good)),
        Case("space in the signature", [], body(sig=good[:10] + " " + good[10:])),
        Case("SHA-1 signature", [], body(sig=mac(SECRET, f"{now}{'t' * 50}".encode(), hashlib.sha1).hex())),
        Case("timestamp with a leading zero", [], body(ts=f"0{now}")),
        Case("token of another length", [], body(token="t" * 20)),
        Case("signature of the body", [], body(sig=hx(SECRET, BODY))),
    ]


def mailgun_accepts(c: Case) -> bool:
    from mailgun.security import SecurityGuard
    doc = json.loads(c.body)
    s = doc["signature"]
    return truthy(lambda: SecurityGuard.verify_webhook(SECRET, s["token"], s["timestamp"], s["signature"]))


exception("mailgun", "timestamp with a plus sign", "refuses",
          "the SDK's int() reads `+<t>`; we take the digits Mailgun sends")
exception("mailgun", "signature repeated in the JSON", "refuses",
          "a member named twice is ambiguous; Python's json keeps the last")
exception("mailgun", "token empty", "refuses",
          "an empty token is no message id to sign or to deduplicate on; Mailgun sends 50 characters")


# ---- adyen --------------------------------------------------------------------------

ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
ADYEN_OTHER = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"


def adyen_item(psp="8816178914079738", value=1130, currency="EUR", code="AUTHORISATION", key=ADYEN_KEY,
               **fields) -> dict:
    """A NotificationRequestItem signed by the SDK (over the fields as given)."""
    from Adyen.util import generate_notification_sig
    item = {"amount": {"currency": currency, "value": value}, "eventCode": code,
            "eventDate": "2026-12-06T12:00:00+01:00", "merchantAccountCode": "SdkShop",
            "merchantReference": "order-7", "pspReference": psp, "success": "true", **fields}
    item["additionalData"] = {"hmacSignature": generate_notification_sig(item, key).decode(), "authCode": "1234"}
    return item


def adyen_body(*items: dict, live="false") -> bytes:
    return json.dumps({"live": live, "notificationItems": [{"NotificationRequestItem": i} for i in items]},
                      ensure_ascii=False).encode()


def adyen_cases(now: int) -> list[Case]:
    def changed(item: dict, f) -> dict:
        item = json.loads(json.dumps(item))
        f(item)
        return item

    def sig_of(item: dict) -> str:
        return item["additionalData"]["hmacSignature"]

    def with_sig(item: dict, sig) -> dict:
        def f(i):
            i["additionalData"]["hmacSignature"] = sig
        return changed(item, f)

    a = adyen_item()
    b = adyen_item(psp="8816178914079739", value=100, code="REFUND", originalReference="8816178914079738")
    c = adyen_item(psp="8816178914079740", value=0, code="REPORT_AVAILABLE", success="true",
                   merchantReference="r\u00e9f\u00e9rence-\u00fc")
    s = sig_of(a)
    no_pad = s.rstrip("=")
    # The last base64 digit before the padding carries 2 bits beyond the digest: other
    # values of those bits decode to the same bytes in a lenient decoder.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    loose = s[:42] + alphabet[alphabet.index(s[42]) ^ 1] + "="
    # Where a colon sits is not signed: moving one between fields signs the same text.
    moved = adyen_item(psp="8816178914079738:", merchantReference="order-7", originalReference="")
    moved_colon = changed(moved, lambda i: (i.update(pspReference="8816178914079738"),
                                            i.update(originalReference=":")))
    raw = adyen_body(a).decode()
    return [
        Case("genuine", [], adyen_body(a)),
        Case("genuine, two items", [], adyen_body(a, b)),
        Case("genuine, three items", [], adyen_body(a, b, c)),
        Case("another key", [], adyen_body(adyen_item(key=ADYEN_OTHER))),
        Case("pspReference changed", [], adyen_body(changed(a, lambda i: i.update(pspReference="8816178914079799")))),
        Case("originalReference added", [], adyen_body(changed(a, lambda i: i.update(originalReference="x")))),
        Case("merchantAccountCode changed", [], adyen_body(changed(a, lambda i: i.update(merchantAccountCode="Other")))),
        Case("merchantReference changed", [], adyen_body(changed(a, lambda i: i.update(merchantReference="order-8")))),
        Case("amount value changed", [], adyen_body(changed(a, lambda i: i["amount"].update(value=1131)))),
        Case("currency changed", [], adyen_body(changed(a, lambda i: i["amount"].update(currency="USD")))),
        Case("eventCode changed", [], adyen_body(changed(a, lambda i: i.update(eventCode="REFUND")))),
        Case("success changed", [], adyen_body(changed(a, lambda i: i.update(success="false")))),
        Case("unsigned eventDate changed", [], adyen_body(changed(a, lambda i: i.update(eventDate="2020-01-01")))),
        Case("unsigned live changed", [], adyen_body(a, live="true")),
        Case("unsigned additionalData member added", [],
             adyen_body(changed(a, lambda i: i["additionalData"].update(cardSummary="1111")))),
        Case("signature lower-cased", [], adyen_body(with_sig(a, s.lower()))),
        Case("signature without its padding", [], adyen_body(with_sig(a, no_pad))),
        Case("signature with bits beyond the digest", [], adyen_body(with_sig(a, loose))),
        Case("signature truncated", [], adyen_body(with_sig(a, s[:-4]))),
        Case("signature with a space", [], adyen_body(with_sig(a, " " + s))),
        Case("signature empty", [], adyen_body(with_sig(a, ""))),
        Case("signature as a number", [], adyen_body(with_sig(a, 12))),
        Case("signature hex instead of base64", [],
             adyen_body(with_sig(a, base64.b64decode(s).hex()))),
        Case("hmacSignature missing", [], adyen_body(changed(a, lambda i: i["additionalData"].pop("hmacSignature")))),
        Case("additionalData missing", [], adyen_body(changed(a, lambda i: i.pop("additionalData")))),
        Case("second item's signature wrong", [], adyen_body(a, with_sig(b, s))),
        Case("first item's signature wrong", [], adyen_body(with_sig(a, sig_of(b)), b)),
        Case("signatures swapped", [], adyen_body(with_sig(a, sig_of(b)), with_sig(b, s))),
        Case("second item signed with another key", [],
             adyen_body(a, adyen_item(psp="8816178914079739", value=100, key=ADYEN_OTHER))),
        Case("colon moved between fields", [], adyen_body(moved_colon)),
        Case("amount value as a string", [], adyen_body(adyen_item(value="1130"))),
        Case("amount value with a fraction", [], adyen_body(adyen_item(value=1130.0))),
        Case("pspReference as a number", [], adyen_body(adyen_item(psp=8816178914079738))),
        Case("success as a boolean", [], adyen_body(adyen_item(success=True))),
        Case("originalReference null", [], adyen_body(adyen_item(originalReference=None))),
        Case("pspReference named twice", [],
             raw.replace('"pspReference": "8816178914079738"',
                         '"pspReference": "0000000000000000", "pspReference": "8816178914079738"').encode()),
        Case("amount missing", [], adyen_body(changed(a, lambda i: i.pop("amount")))),
        Case("currency missing", [], adyen_body(changed(a, lambda i: i["amount"].pop("currency")))),
        Case("no items", [], b'{"live":"false","notificationItems":[]}'),
        Case("no notificationItems", [], b'{"live":"false"}'),
        Case("the item without its wrapper", [], json.dumps({"notificationItems": [a]}).encode()),
        Case("body not JSON", [], b"[accepted]"),
    ]


def adyen_accepts(c: Case) -> bool:
    """The SDK's helper on the body as given (it checks the first item), and on each item,
    as Adyen's documentation asks of a receiver."""
    from Adyen.util import is_valid_hmac_notification
    doc = json.loads(c.body)
    items = doc["notificationItems"]
    return (truthy(lambda: is_valid_hmac_notification(doc, ADYEN_KEY))
            and all(truthy(lambda: is_valid_hmac_notification(i["NotificationRequestItem"], ADYEN_KEY))
                    for i in items))


ADYEN_TYPES = ("a signed field of another JSON type than Adyen writes is refused; the SDK signs Python's str() of it, "
               "so a sender could sign `1130.0`, `True` or `None`")
exception("adyen", "amount value as a string", "refuses", ADYEN_TYPES)
exception("adyen", "amount value with a fraction", "refuses", ADYEN_TYPES)
exception("adyen", "pspReference as a number", "refuses", ADYEN_TYPES)
exception("adyen", "success as a boolean", "refuses", ADYEN_TYPES)
exception("adyen", "originalReference null", "refuses", ADYEN_TYPES)
exception("adyen", "pspReference named twice", "refuses", "a member named twice is ambiguous; Python's json keeps the last")


# ---- workos -------------------------------------------------------------------------


def workos_cases(now: int) -> list[Case]:
    def sig(ms, body=BODY, key=SECRET) -> str:
        return hx(key, f"{ms}.".encode() + body)

    def h(v: str) -> Headers:
        return [("WorkOS-Signature", v)]

    ms = now * 1000 + 123
    s = sig(ms)
    return [
        Case("genuine", h(f"t={ms}, v1={s}"), BODY),
        *body_mutations(lambda b: h(f"t={ms}, v1={sig(ms, b)}")),
        Case("another key", h(f"t={ms}, v1={sig(ms, key=OTHER)}"), BODY),
        Case("upper-case hex", h(f"t={ms}, v1={s.upper()}"), BODY),
        Case("no space after the comma", h(f"t={ms},v1={s}"), BODY),
        Case("two spaces after the comma", h(f"t={ms},  v1={s}"), BODY),
        Case("v1 first", h(f"v1={s}, t={ms}"), BODY),
        Case("a third item", h(f"t={ms}, v1={s}, v0=ab"), BODY),
        Case("two v1", h(f"t={ms}, v1={'0' * 64}, v1={s}"), BODY),
        Case("other key names", h(f"x={ms}, ab={s}"), BODY),
        Case("semicolon separator", h(f"t={ms}; v1={s}"), BODY),
        Case("timestamp in seconds", h(f"t={now}, v1={sig(now)}"), BODY),
        Case("no t", h(f"v1={s}"), BODY),
        Case("100 s old", h(f"t={ms - 100_000}, v1={sig(ms - 100_000)}"), BODY),
        Case("200 s old", h(f"t={ms - 200_000}, v1={sig(ms - 200_000)}"), BODY),
        Case("100 s ahead", h(f"t={ms + 100_000}, v1={sig(ms + 100_000)}"), BODY),
        Case("200 s ahead", h(f"t={ms + 200_000}, v1={sig(ms + 200_000)}"), BODY),
        Case("header missing", [], BODY),
        Case("header repeated", h(f"t={ms}, v1={s}") * 2, BODY),
        Case("truncated signature", h(f"t={ms}, v1={s[:-2]}"), BODY),
        Case("V1 label in upper case", h(f"t={ms}, V1={s}"), BODY),
        Case("timestamp changed", h(f"t={ms + 1}, v1={s}"), BODY),
    ]


def workos_accepts(c: Case) -> bool:
    from workos.webhooks._verification import verify_header
    h = lower_keys(c.headers)
    return no_raise(lambda: verify_header(event_body=c.body, event_signature=h.get("workos-signature"),
                                          secret=SECRET, tolerance=180))


exception("workos", "other key names", "refuses",
          "WorkOS's parser drops the first two and three characters whatever they are; we require `t=` and "
          "`v1=`, as WorkOS sends")
exception("workos", "V1 label in upper case", "refuses",
          "WorkOS's parser skips the label unread; we require `v1=`, as WorkOS sends")
exception("workos", "header repeated", "refuses", REPEATED)


# ---- the table ----------------------------------------------------------------------

SECRETS = [{"id": "current", "env": "SDK_SECRET"}]
SDKS = [
    Sdk("stripe", "stripe", {"secrets": SECRETS}, stripe_cases, stripe_accepts),
    Sdk("slack", "slack_sdk", {"secrets": SECRETS}, slack_cases, slack_accepts),
    Sdk("standard", "standardwebhooks", {"secrets": [{"env": "SDK_STANDARD"}]}, standard_cases("webhook"),
        standardwebhooks_accepts),
    Sdk("svix", "svix", {"secrets": [{"env": "SDK_STANDARD"}]}, standard_cases("svix"), svix_accepts),
    Sdk("resend", "resend", {"secrets": [{"env": "SDK_STANDARD"}]}, standard_cases("svix"), resend_accepts),
    Sdk("twilio", "twilio", {"secrets": SECRETS, "public_url": TWILIO_PUBLIC}, twilio_cases, twilio_accepts),
    Sdk("sendgrid", "sendgrid", {"public_keys": [{"id": "sg", "value": "PLACEHOLDER"}]}, sendgrid_cases,
        sendgrid_accepts),
    Sdk("square", "squareup", {"secrets": SECRETS}, square_cases, square_accepts),
    Sdk("paddle", "paddle-python-sdk", {"secrets": SECRETS}, paddle_cases, paddle_accepts),
    Sdk("razorpay", "razorpay", {"secrets": SECRETS}, body_hex_cases("X-Razorpay-Signature"), razorpay_accepts),
    Sdk("coinbase", "coinbase-commerce", {"secrets": SECRETS}, body_hex_cases("X-CC-Webhook-Signature"),
        coinbase_accepts),
    Sdk("hubspot", "hubspot-api-client", {"secrets": SECRETS}, hubspot_cases, hubspot_accepts),
    Sdk("hubspot_v1", "hubspot-api-client", {"secrets": SECRETS}, hubspot_digest_cases("v1"),
        hubspot_digest_accepts("v1")),
    Sdk("hubspot_v2", "hubspot-api-client", {"secrets": SECRETS}, hubspot_digest_cases("v2"),
        hubspot_digest_accepts("v2")),
    Sdk("box", "box-sdk-gen", {"secrets": SECRETS + [{"id": "secondary", "env": "SDK_BOX_SECONDARY"}]},
        box_cases, box_accepts),
    Sdk("mailgun", "mailgun", {"secrets": SECRETS}, mailgun_cases, mailgun_accepts),
    Sdk("workos", "workos", {"secrets": SECRETS}, workos_cases, workos_accepts),
    Sdk("adyen", "Adyen", {"secrets": [{"id": "hmac", "env": "SDK_ADYEN"}]}, adyen_cases, adyen_accepts),
    Sdk("openai", "openai", {"secrets": [{"env": "SDK_STANDARD"}]}, standard_cases("webhook"), openai_accepts),
    Sdk("discord", "discord-interactions", {"public_keys": [{"id": "app", "value": "PLACEHOLDER"}]}, discord_cases,
        discord_accepts),
    Sdk("sinch", "sinch", {"secrets": SECRETS}, sinch_cases, sinch_accepts),
    Sdk("cashfree", "cashfree-pg", {"secrets": SECRETS}, cashfree_cases, cashfree_accepts),
    Sdk("onfido", "onfido-python", {"secrets": SECRETS}, body_hex_cases("X-SHA2-Signature"), onfido_accepts),
    Sdk("gocardless", "gocardless-pro", {"secrets": SECRETS}, body_hex_cases("Webhook-Signature"),
        gocardless_accepts),
]


@pytest.fixture(scope="module")
def envoy(envoy_factory):
    routes = []
    for sdk in SDKS:
        sig = {"scheme": sdk.preset, **sdk.route}
        if sdk.preset == "sendgrid":
            sig["public_keys"] = [{"id": "sg", "value": sendgrid_public()}]
        if sdk.preset == "discord":
            sig["public_keys"] = [{"id": "app", "value": discord_public()}]
        routes.append({"name": f"a_{sdk.preset}", "match": {"path_exact": sdk.path}, "checks": {"signature": sig}})
    policy = {"api": "v1", "mode": "enforce", "max_body_bytes": 65536, "unmatched": "deny", "routes": routes}
    env = {"SDK_SECRET": SECRET, "SDK_STANDARD": STANDARD_SECRET, "SDK_BOX_SECONDARY": BOX_SECONDARY,
           "SDK_ADYEN": ADYEN_KEY}
    return envoy_factory.start(policy, env, name="sdk_agreement")


def forwarded_untouched(rec, sdk: Sdk, c: Case) -> bool:
    return (rec.body == c.body and rec.path == sdk.path + c.query
            and all(rec.header_values(k) == [v.strip(" \t")] for k, v in c.headers if k.lower() != "content-type")
            and rec.header_values("x-webhook-guard") == [f"route=a_{sdk.preset}"])


@pytest.mark.parametrize("sdk", SDKS, ids=[s.preset for s in SDKS])
def test_sdk_agreement(envoy, upstream, sdk):
    cases = sdk.cases(int(time.time()))
    labels = [c.label for c in cases]
    assert len(cases) >= 30 and len(set(labels)) == len(labels), (len(cases), labels)
    disagreements, agreed, excused = [], 0, 0
    for i in range(len(cases)):
        # Signed afresh for each request: a case's age is what it says (Paddle's window
        # is 5 s), not the time the list took.
        c = sdk.cases(int(time.time()))[i]
        upstream.reset()
        headers = c.headers if any(k.lower() == "content-type" for k, _ in c.headers) else \
            [("Content-Type", "application/json"), *c.headers]
        resp = harness.http1(envoy.port, "POST", sdk.path + c.query, headers, c.body, host=HOST)
        theirs = truthy(lambda: sdk.accepts(c))
        reached = upstream.requests()
        ours = resp.status == 200
        if ours:
            assert len(reached) == 1 and forwarded_untouched(reached[0], sdk, c), (sdk.preset, c.label)
        else:
            assert resp.status in (400, 401, 403), (sdk.preset, c.label, resp.status)
            assert reached == [], (sdk.preset, c.label)
        excuse = EXCEPTIONS.get((sdk.preset, c.label))
        if excuse:
            we = "forwards" if ours else "refuses"
            if theirs == ours or we != excuse[0]:
                disagreements.append(f"{c.label}: listed as an exception ({excuse[0]}) but SDK={theirs} ours={ours}")
            excused += 1
        elif theirs != ours:
            disagreements.append(f"{c.label}: SDK {'accepts' if theirs else 'refuses'}, "
                                 f"we {'forward' if ours else 'refuse'}")
        else:
            agreed += 1
    print(f"\n{sdk.preset} ({sdk.package}): {len(cases)} cases, {agreed} agree, {excused} documented exceptions")
    assert not disagreements, f"{sdk.preset}:\n  " + "\n  ".join(disagreements)


def test_every_exception_names_a_case():
    now = int(time.time())
    known = {(s.preset, c.label) for s in SDKS for c in s.cases(now)}
    assert set(EXCEPTIONS) <= known, set(EXCEPTIONS) - known
