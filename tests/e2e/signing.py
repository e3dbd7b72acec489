"""How each provider signs a webhook, written from the providers' documentation with
Python's hmac/hashlib only: an implementation independent of the plugin's Rust code.

Each function returns the headers a provider would send, as a list of (name, value).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def now() -> int:
    return int(time.time())


def _mac(key: bytes, msg: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key, msg, ALGORITHMS[algorithm]).digest()


def _b(s: str | bytes) -> bytes:
    return s.encode("utf-8") if isinstance(s, str) else s


def github(secret: str | bytes, body: bytes) -> list[tuple[str, str]]:
    """X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>."""
    return [("X-Hub-Signature-256", "sha256=" + _mac(_b(secret), body).hex())]


def stripe_v1(secret: str, body: bytes, timestamp: int) -> str:
    """The v1 signature: hex HMAC-SHA256 keyed with the whole `whsec_...` string over `<t>.<body>`."""
    return _mac(_b(secret), f"{timestamp}.".encode() + body).hex()


def stripe(secret: str, body: bytes, timestamp: int | None = None, *, extra_v1: list[str] = ()) -> list[tuple[str, str]]:
    """Stripe-Signature: t=<ts>,v1=<hex>[,v1=...] (extra_v1 adds other candidates first,
    as Stripe does while a secret is being rolled)."""
    ts = now() if timestamp is None else timestamp
    sigs = [*extra_v1, stripe_v1(secret, body, ts)]
    return [("Stripe-Signature", f"t={ts}," + ",".join(f"v1={s}" for s in sigs))]


def slack(secret: str | bytes, body: bytes, timestamp: int | None = None) -> list[tuple[str, str]]:
    """X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<ts>:<body>")>, X-Slack-Request-Timestamp."""
    ts = now() if timestamp is None else timestamp
    sig = _mac(_b(secret), f"v0:{ts}:".encode() + body).hex()
    return [("X-Slack-Request-Timestamp", str(ts)), ("X-Slack-Signature", "v0=" + sig)]


SHOPIFY_REQUIRED = ("X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-API-Version", "X-Shopify-Webhook-Id")


def shopify(secret: str | bytes, body: bytes) -> list[tuple[str, str]]:
    """X-Shopify-Hmac-Sha256: base64 HMAC-SHA256(secret, body), then the headers Shopify's
    library requires beside it (the webhook id follows the body, as a redelivery keeps it)."""
    return [
        ("X-Shopify-Hmac-Sha256", base64.b64encode(_mac(_b(secret), body)).decode()),
        ("X-Shopify-Topic", "orders/create"),
        ("X-Shopify-Shop-Domain", "e2e-shop.myshopify.com"),
        ("X-Shopify-API-Version", "2025-10"),
        ("X-Shopify-Webhook-Id", hashlib.sha256(body).hexdigest()[:32]),
    ]


def standard_key(secret: str) -> bytes:
    """Standard Webhooks: the key is the base64 after the `whsec_` prefix."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    return base64.b64encode(_mac(standard_key(secret), f"{msg_id}.{timestamp}.".encode() + body)).decode()


def standard(secret: str, body: bytes, *, msg_id: str = "msg_2Lh9KRb0pzN4LePd3XiA4GBGYJg", timestamp: int | None = None,
             prefix: str = "webhook", extra: list[str] = ()) -> list[tuple[str, str]]:
    """webhook-id, webhook-timestamp, webhook-signature: v1,<b64> [v1,<b64> ...]
    (prefix="svix" for Svix's spelling of the same headers)."""
    ts = now() if timestamp is None else timestamp
    sigs = [*extra, "v1," + standard_signature(secret, msg_id, ts, body)]
    return [(f"{prefix}-id", msg_id), (f"{prefix}-timestamp", str(ts)), (f"{prefix}-signature", " ".join(sigs))]


def generic(secret: str | bytes, body: bytes, *, header: str = "X-Webhook-Signature", algorithm: str = "sha256",
            encoding: str = "hex", prefix: str = "", signed_payload: str = "{body}",
            timestamp_header: str | None = None, timestamp: int | None = None,
            id_header: str | None = None, msg_id: str | None = None,
            method: str = "POST", path: str = "/") -> list[tuple[str, str]]:
    """The configurable scheme: MAC over a template of {body} {timestamp} {id} {method} {path}."""
    ts = now() if timestamp is None else timestamp
    parts = {"{timestamp}": str(ts).encode(), "{id}": _b(msg_id or ""), "{method}": method.encode(),
             "{path}": path.encode(), "{body}": body}
    payload = _render(signed_payload, parts)
    mac = _mac(_b(secret), payload, algorithm)
    value = prefix + (mac.hex() if encoding == "hex" else base64.b64encode(mac).decode())
    headers = [(header, value)]
    if timestamp_header:
        headers.append((timestamp_header, str(ts)))
    if id_header:
        headers.append((id_header, msg_id or ""))
    return headers


def _render(template: str, parts: dict[str, bytes]) -> bytes:
    out = b""
    i = 0
    while i < len(template):
        for ph, val in parts.items():
            if template.startswith(ph, i):
                out += val
                i += len(ph)
                break
        else:
            out += template[i].encode()
            i += 1
    return out
