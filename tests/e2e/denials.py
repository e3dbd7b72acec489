"""Helpers shared by the header-check modules (ip_allowlist, headers, jwt, rate_limit,
dedupe, combined): tagging a request with its own request id so its denial line can be
found, the denial-log assertions, and HS256/384/512 JWTs made with the standard library
only (an implementation independent of the plugin's Rust code)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid

import harness

# Keep the client's x-request-id, so a test can find the warn line of its own request.
HCM = {"preserve_external_request_id": True}

WARN = re.compile(r"\[warn(ing)?\]")
UNAUTHORIZED = {"error": "unauthorized"}
FORBIDDEN = {"error": "forbidden"}


def request_id(tag: str = "rq") -> str:
    return f"e2e-{tag}-{uuid.uuid4().hex[:16]}"


def denial_lines(envoy: harness.Envoy, rid: str) -> list[str]:
    rx = re.compile(rf"request_id={re.escape(rid)}$")
    return [line for line in envoy.log().splitlines() if rx.search(line)]


def assert_denial_logged(envoy: harness.Envoy, rid: str, route: str, reason: str, client: str = "127.0.0.1") -> str:
    """Exactly one warn line for the request `rid`, naming route, reason and client IP."""
    envoy.wait_log(rf"request_id={re.escape(rid)}$")
    lines = denial_lines(envoy, rid)
    assert len(lines) == 1, lines
    [line] = lines
    assert WARN.search(line), line
    assert "webhook-guard denied" in line, line
    assert f" route={route} " in line, line
    assert f" reason={reason} " in line, line
    assert f" client={client} " in line, line
    return line


def counters(envoy: harness.Envoy, prefix: str) -> dict[str, int]:
    """Every plugin counter under `webhook_guard.<prefix>` (e.g. a route's)."""
    return {k: v for k, v in envoy.stats(f"webhook_guard.{prefix}").items() if k.startswith(f"webhook_guard.{prefix}")}


def wait_counter_delta(envoy: harness.Envoy, route: str, before: dict[str, int], expected: dict[str, int],
                       timeout: float = 3.0) -> dict[str, int]:
    """Wait until the route's counters moved by `expected` ({"allowed": 1, "denied.x": 1});
    return every counter of the route that moved (so a test can assert nothing else did)."""

    def moved() -> dict[str, int]:
        now = counters(envoy, route + ".")
        return {k.removeprefix(f"webhook_guard.{route}."): v - before.get(k, 0)
                for k, v in now.items() if v != before.get(k, 0)}

    try:
        harness.wait_until(lambda: all(moved().get(k, 0) >= v for k, v in expected.items()), timeout,
                           what=f"counters of {route} to move by {expected}")
    except TimeoutError:
        pass
    return moved()


# --------------------------------------------------------------------------------------
# JWT (RFC 7519 / 7515 compact serialization), HS256/384/512.

JWT_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_segment(obj: dict) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def jwt(claims: dict, secret: str | bytes, alg: str = "HS256", *, header: dict | None = None,
        sign_alg: str | None = None) -> str:
    """A compact JWS. `header` replaces the JOSE header ({"alg": alg, "typ": "JWT"});
    `sign_alg` MACs with another algorithm than the header names; alg "none" gives
    an empty signature."""
    head = header if header is not None else {"alg": alg, "typ": "JWT"}
    signing_input = f"{jwt_segment(head)}.{jwt_segment(claims)}"
    algorithm = sign_alg or alg
    if algorithm == "none":
        return signing_input + "."
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, signing_input.encode(), JWT_HASHES[algorithm]).digest()
    return f"{signing_input}.{b64url(mac)}"


def now() -> int:
    return int(time.time())
