"""checks.paypal and checks.plaid (SPEC 2.1 "Keys from a directory"): senders whose key
is fetched on a request's first use. Keys are made here with `cryptography`; a small
server behind the configured clusters plays PayPal's certificate host and Plaid's key
endpoint; messages are signed here the senders' way, checked by independent verifiers
(`cryptography` over PayPal's documented string with zlib's CRC-32; PyJWT and hashlib as
Plaid's example does), and Envoy agrees: what it accepts reaches the upstream untouched,
what it refuses reaches nothing, each refusal with its status, reason counter and warn
line.

Faults: another key, a changed body, another webhook id, a stale transmission time or
`iat`, a certificate URL off PayPal's hosts (never fetched: the server sees no request),
an expired Plaid key, and the key endpoint down (503)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import socket
import subprocess
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm

import denials
import harness
import mtls
from denials import UNAUTHORIZED, now

WEBHOOK_ID = "1JE4291016473214C"
CERT_PATH = "/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"
CERT_URL = f"https://api-m.paypal.com{CERT_PATH}"
KEY_PATH = "/webhook_verification_key/get"
KID = "bfbd5111-8e33-4643-8ced-b2e642a72f3c"
EXPIRED_KID = "0c1d2e3f-4a5b-4c6d-8e7f-000000000001"
CLIENT_ID = "plaid-client-e2e"
PLAID_SECRET = "plaid-secret-e2e-9f8e7d"
PAYPAL_BODY = b'{"id":"WH-58D329510W468432D-8HN650336L201105X","event_type":"PAYMENT.CAPTURE.COMPLETED"}'
PLAID_BODY = b'{\n  "webhook_type": "TRANSACTIONS",\n  "webhook_code": "SYNC_UPDATES_AVAILABLE"\n}'


def self_signed(key: rsa.RSAPrivateKey, days: int = 30) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "messageverificationcerts.paypal.com")])
    t = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(t - datetime.timedelta(days=1))
            .not_valid_after(t + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


class Senders:
    """PayPal's certificate host and Plaid's key endpoint, recording every request."""

    def __init__(self):
        self.paypal = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.plaid = ec.generate_private_key(ec.SECP256R1())
        self.old_plaid = ec.generate_private_key(ec.SECP256R1())
        self.certs = {CERT_PATH: self_signed(self.paypal)}
        self.hits: list[tuple[str, str, bytes]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def _send(self, status: int, body: bytes, ctype: str):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                with owner.lock:
                    owner.hits.append(("GET", self.path, b""))
                pem = owner.certs.get(self.path)
                if pem is None:
                    return self._send(404, b"not found", "text/plain")
                self._send(200, pem, "application/x-pem-file")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner.lock:
                    owner.hits.append(("POST", self.path, body))
                if self.path != KEY_PATH:
                    return self._send(404, b"{}", "application/json")
                try:
                    sent = json.loads(body)
                except ValueError:
                    return self._send(400, b'{"error_code":"INVALID_BODY"}', "application/json")
                if sent.get("client_id") != CLIENT_ID or sent.get("secret") != PLAID_SECRET:
                    return self._send(400, b'{"error_code":"INVALID_API_KEYS"}', "application/json")
                kid = sent.get("key_id")
                keys = {KID: (owner.plaid, None), EXPIRED_KID: (owner.old_plaid, 1_600_000_000)}
                if kid not in keys:
                    return self._send(400, b'{"error_code":"INVALID_WEBHOOK_VERIFICATION_KEY_ID"}',
                                      "application/json")
                key, expired = keys[kid]
                jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
                jwk.update(alg="ES256", kid=kid, use="sig", created_at=1560466143, expired_at=expired)
                jwk.pop("key_ops", None)
                self._send(200, json.dumps({"key": jwk, "request_id": "m1"}).encode(), "application/json")

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def requests(self, method: str, path: str) -> list[bytes]:
        with self.lock:
            return [b for m, p, b in self.hits if m == method and p == path]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # ---- signing, the senders' way ------------------------------------------------------

    def paypal_headers(self, body: bytes, *, key=None, webhook_id: str = WEBHOOK_ID, at: int | None = None,
                       cert_url: str = CERT_URL, tid: str | None = None) -> dict[str, str]:
        t = datetime.datetime.fromtimestamp(at if at is not None else now(), datetime.timezone.utc)
        time_text = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        tid = tid or f"{hashlib.sha1(body + time_text.encode()).hexdigest()[:8]}-d67a-11e5-baa3-778b53f4ae55"
        signed = f"{tid}|{time_text}|{webhook_id}|{zlib.crc32(body)}".encode()
        sig = (key or self.paypal).sign(signed, padding.PKCS1v15(), hashes.SHA256())
        return {"PAYPAL-TRANSMISSION-ID": tid, "PAYPAL-TRANSMISSION-TIME": time_text,
                "PAYPAL-TRANSMISSION-SIG": base64.b64encode(sig).decode(), "PAYPAL-CERT-URL": cert_url,
                "PAYPAL-AUTH-ALGO": "SHA256withRSA"}

    def paypal_verifies(self, headers: dict[str, str], body: bytes) -> bool:
        """The documented string with zlib's CRC-32, verified by `cryptography` with the
        served certificate's key (what a PayPal listener written from the page does)."""
        path = headers["PAYPAL-CERT-URL"].removeprefix("https://api-m.paypal.com")
        if path not in self.certs or not headers["PAYPAL-CERT-URL"].startswith("https://api-m.paypal.com/"):
            return False
        cert = x509.load_pem_x509_certificate(self.certs[path])
        signed = (f"{headers['PAYPAL-TRANSMISSION-ID']}|{headers['PAYPAL-TRANSMISSION-TIME']}|{WEBHOOK_ID}|"
                  f"{zlib.crc32(body)}").encode()
        try:
            cert.public_key().verify(base64.b64decode(headers["PAYPAL-TRANSMISSION-SIG"]), signed,
                                     padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True

    def plaid_token(self, body: bytes, *, key=None, kid: str = KID, iat: int | None = None,
                    body_hash: str | None = None) -> str:
        claims = {"iat": iat if iat is not None else now(),
                  "request_body_sha256": body_hash or hashlib.sha256(body).hexdigest()}
        return pyjwt.encode(claims, key or self.plaid, algorithm="ES256", headers={"kid": kid})

    def plaid_verifies(self, token: str, body: bytes) -> bool:
        """Plaid's example: ES256 only, the key by kid (refused once expired_at is set), iat
        at most 5 minutes old, the body's hex SHA-256 compared as a string."""
        head = pyjwt.get_unverified_header(token)
        if head.get("alg") != "ES256" or head.get("kid") != KID:
            return False
        try:
            claims = pyjwt.decode(token, self.plaid.public_key(), algorithms=["ES256"])
        except pyjwt.PyJWTError:
            return False
        if claims["iat"] < time.time() - 5 * 60:
            return False
        return hashlib.sha256(body).hexdigest() == claims["request_body_sha256"]


def closed_port() -> int:
    """A port nothing listens on (the kernel's pick, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def route(name: str, checks: dict) -> dict:
    return {"name": name, "match": {"path_exact": f"/hooks/{name}"}, "checks": checks}


class Lab:
    def __init__(self, factory):
        self.senders = Senders()
        certificates = {"cluster": "paypal_api", "hosts": ["api-m.paypal.com"], "timeout_ms": 1000}
        plaid = {"client_id": {"env": "PLAID_CLIENT_ID"}, "secret": {"env": "PLAID_SECRET"},
                 "keys": {"cluster": "plaid_api", "timeout_ms": 1000}}
        plaid_down = dict(plaid, keys={"cluster": "dead_api", "authority": "sandbox.plaid.com", "timeout_ms": 500})
        policy = {"api": "v1", "routes": [
            route("paypal", {"paypal": {"webhook_id": WEBHOOK_ID, "certificates": certificates}}),
            route("plaid", {"plaid": plaid}),
            route("plaid_down", {"plaid": plaid_down}),
        ]}
        env = {"PLAID_CLIENT_ID": CLIENT_ID, "PLAID_SECRET": PLAID_SECRET}
        cfg = harness.build_config(policy, factory.upstream.port, env, hcm_options=denials.HCM)
        clusters = cfg["static_resources"]["clusters"]
        clusters.append(mtls.api_cluster(self.senders.port, "paypal_api"))
        clusters.append(mtls.api_cluster(self.senders.port, "plaid_api"))
        # Nothing listens there: the key endpoint is down.
        clusters.append(mtls.api_cluster(closed_port(), "dead_api"))
        self.envoy = factory.start_config(cfg, name="directory", concurrency=2,
                                          secrets=harness.collect_secrets(policy, env))


@pytest.fixture(scope="module")
def lab(envoy_factory):
    lab = Lab(envoy_factory)
    yield lab
    lab.senders.stop()


def post(envoy, path: str, headers: dict[str, str], body: bytes, rid: str | None = None):
    h = [("Content-Type", "application/json"), *headers.items()]
    if rid:
        h.append(("X-Request-Id", rid))
    return harness.http1(envoy.port, "POST", path, h, body)


def accepted(lab: Lab, upstream, name: str, headers: dict[str, str], body: bytes):
    before = denials.counters(lab.envoy, name + ".")
    resp = post(lab.envoy, f"/hooks/{name}", headers, body)
    assert resp.status == 200, (resp.status, resp.body)
    [rec] = upstream.requests()
    assert rec.body == body
    for k, v in headers.items():
        assert rec.header_values(k.lower()) == [v], k
    assert rec.header_values("x-webhook-guard") == [f"route={name}"]
    assert denials.wait_counter_delta(lab.envoy, name, before, {"allowed": 1}) == {"allowed": 1}
    upstream.reset()


def refused(lab: Lab, upstream, name: str, headers: dict[str, str], body: bytes, reason: str, status: int = 401):
    before = denials.counters(lab.envoy, name + ".")
    rid = denials.request_id("dir")
    resp = post(lab.envoy, f"/hooks/{name}", headers, body, rid)
    assert resp.status == status, (resp.status, resp.body)
    if status == 401:
        assert resp.json() == UNAUTHORIZED
    upstream.assert_nothing_reached()
    assert denials.wait_counter_delta(lab.envoy, name, before, {f"denied.{reason}": 1}) == {f"denied.{reason}": 1}
    line = denials.assert_denial_logged(lab.envoy, rid, name, reason)
    for v in headers.values():
        if len(v) > 40:
            assert v not in line
    assert PLAID_SECRET not in lab.envoy.log()
    return resp


# ---- PayPal ---------------------------------------------------------------------------------


def test_a_genuine_paypal_message_is_forwarded_untouched_and_the_certificate_fetched_once(lab, upstream):
    fetched = len(lab.senders.requests("GET", CERT_PATH))
    for _ in range(3):
        h = lab.senders.paypal_headers(PAYPAL_BODY)
        assert lab.senders.paypal_verifies(h, PAYPAL_BODY)
        accepted(lab, upstream, "paypal", h, PAYPAL_BODY)
    # Kept in shared data: at most one fetch per worker that raced for it.
    assert 1 <= len(lab.senders.requests("GET", CERT_PATH)) - fetched <= 2


def test_paypal_forged_tampered_or_for_another_webhook_is_refused(lab, upstream):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = lab.senders.paypal_headers(PAYPAL_BODY, key=stranger)
    assert not lab.senders.paypal_verifies(forged, PAYPAL_BODY)
    refused(lab, upstream, "paypal", forged, PAYPAL_BODY, "signature_mismatch")
    genuine = lab.senders.paypal_headers(PAYPAL_BODY)
    tampered = PAYPAL_BODY.replace(b"COMPLETED", b"REFUNDED")
    assert not lab.senders.paypal_verifies(genuine, tampered)
    refused(lab, upstream, "paypal", genuine, tampered, "signature_mismatch")
    other = lab.senders.paypal_headers(PAYPAL_BODY, webhook_id="8PT597110X687430LKGECATA")
    assert not lab.senders.paypal_verifies(other, PAYPAL_BODY)
    refused(lab, upstream, "paypal", other, PAYPAL_BODY, "signature_mismatch")


def test_a_stale_paypal_transmission_is_refused(lab, upstream):
    old = lab.senders.paypal_headers(PAYPAL_BODY, at=now() - 3600)
    assert lab.senders.paypal_verifies(old, PAYPAL_BODY)  # PayPal's page sets no window: a departure
    refused(lab, upstream, "paypal", old, PAYPAL_BODY, "timestamp_out_of_tolerance")


@pytest.mark.parametrize("url", [
    "https://evil.example/v1/notifications/certs/CERT-1",
    "https://api-m.paypal.com.evil.example/v1/notifications/certs/CERT-1",
    "https://api.paypal.com/v1/notifications/certs/CERT-1",  # a PayPal host the route does not list
    "http://api-m.paypal.com/v1/notifications/certs/CERT-1",
    "https://api-m.paypal.com:8443/v1/notifications/certs/CERT-1",
    "https://api-m.paypal.com/v1/oauth2/token",
])
def test_a_foreign_certificate_url_is_refused_and_never_fetched(lab, upstream, url):
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = "/" + url.split("/", 3)[3]
    lab.senders.certs[path] = self_signed(attacker)
    try:
        hits = len(lab.senders.hits)
        h = lab.senders.paypal_headers(PAYPAL_BODY, key=attacker, cert_url=url)
        refused(lab, upstream, "paypal", h, PAYPAL_BODY, "cert_url_refused")
        time.sleep(0.3)
        assert len(lab.senders.hits) == hits, lab.senders.hits[hits:]
    finally:
        del lab.senders.certs[path]


def test_a_paypal_certificate_that_is_not_there_gives_503(lab, upstream):
    h = lab.senders.paypal_headers(PAYPAL_BODY, cert_url="https://api-m.paypal.com/v1/notifications/certs/CERT-gone")
    resp = refused(lab, upstream, "paypal", h, PAYPAL_BODY, "fetch_status", status=503)
    assert resp.header("retry-after")


# ---- Plaid ----------------------------------------------------------------------------------


def test_a_genuine_plaid_webhook_is_forwarded_untouched(lab, upstream):
    asked = len(lab.senders.requests("POST", KEY_PATH))
    for _ in range(3):
        token = lab.senders.plaid_token(PLAID_BODY)
        assert lab.senders.plaid_verifies(token, PLAID_BODY)
        accepted(lab, upstream, "plaid", {"Plaid-Verification": token}, PLAID_BODY)
    sent = lab.senders.requests("POST", KEY_PATH)[asked:]
    assert 1 <= len(sent) <= 2
    assert json.loads(sent[0]) == {"client_id": CLIENT_ID, "secret": PLAID_SECRET, "key_id": KID}


def test_plaid_forged_tampered_or_stale_is_refused(lab, upstream):
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = lab.senders.plaid_token(PLAID_BODY, key=stranger)
    assert not lab.senders.plaid_verifies(forged, PLAID_BODY)
    refused(lab, upstream, "plaid", {"Plaid-Verification": forged}, PLAID_BODY, "token_signature_mismatch")
    token = lab.senders.plaid_token(PLAID_BODY)
    tampered = PLAID_BODY.replace(b"SYNC", b"HIST")
    assert not lab.senders.plaid_verifies(token, tampered)
    refused(lab, upstream, "plaid", {"Plaid-Verification": token}, tampered, "body_hash_mismatch")
    upper = lab.senders.plaid_token(PLAID_BODY, body_hash=hashlib.sha256(PLAID_BODY).hexdigest().upper())
    assert not lab.senders.plaid_verifies(upper, PLAID_BODY)
    refused(lab, upstream, "plaid", {"Plaid-Verification": upper}, PLAID_BODY, "body_hash_mismatch")
    stale = lab.senders.plaid_token(PLAID_BODY, iat=now() - 400)
    assert not lab.senders.plaid_verifies(stale, PLAID_BODY)
    refused(lab, upstream, "plaid", {"Plaid-Verification": stale}, PLAID_BODY, "token_too_old")
    hs = denials.jwt({"iat": now(), "request_body_sha256": hashlib.sha256(PLAID_BODY).hexdigest()}, "k",
                     header={"alg": "HS256", "kid": KID})
    refused(lab, upstream, "plaid", {"Plaid-Verification": hs}, PLAID_BODY, "token_algorithm_not_allowed")


def test_a_plaid_key_marked_expired_is_refused(lab, upstream):
    token = lab.senders.plaid_token(PLAID_BODY, key=lab.senders.old_plaid, kid=EXPIRED_KID)
    refused(lab, upstream, "plaid", {"Plaid-Verification": token}, PLAID_BODY, "key_expired")


def test_an_unknown_plaid_kid_is_refused_with_503(lab, upstream):
    token = lab.senders.plaid_token(PLAID_BODY, kid="ffffffff-0000-4000-8000-000000000000")
    refused(lab, upstream, "plaid", {"Plaid-Verification": token}, PLAID_BODY, "fetch_status", status=503)


def test_the_plaid_key_endpoint_down_gives_503(lab, upstream):
    token = lab.senders.plaid_token(PLAID_BODY)
    before = denials.counters(lab.envoy, "plaid_down.")
    resp = post(lab.envoy, "/hooks/plaid_down", {"Plaid-Verification": token}, PLAID_BODY)
    assert resp.status == 503, (resp.status, resp.body)
    assert resp.header("retry-after")
    upstream.assert_nothing_reached()
    moved = denials.wait_counter_delta(lab.envoy, "plaid_down", before, {})
    assert list(moved) in (["denied.fetch_timeout"], ["denied.fetch_status"]), moved


# ---- the command signs as the senders do ------------------------------------------------------


def cli_sign(tmp_path, key, *args: str) -> dict[str, str]:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(pem)
    cli = harness.REPO / "target" / "release" / "webhook-guard"
    if not cli.is_file():
        pytest.fail(f"the command is not built: {cli} is missing (run `make cli`)", pytrace=False)
    out = subprocess.run([str(cli), "sign", "--private-key", str(key_file), *args], capture_output=True, text=True,
                         check=True, timeout=30)
    return dict(line.split(": ", 1) for line in out.stdout.splitlines())


def test_requests_signed_by_the_command_are_accepted(lab, upstream, tmp_path):
    body = tmp_path / "body.json"
    body.write_bytes(PAYPAL_BODY)
    h = cli_sign(tmp_path, lab.senders.paypal, "--scheme", "paypal", "--body", str(body), "--webhook-id", WEBHOOK_ID,
                 "--cert-url", CERT_URL)
    assert lab.senders.paypal_verifies(h, PAYPAL_BODY)
    accepted(lab, upstream, "paypal", h, PAYPAL_BODY)
    body.write_bytes(PLAID_BODY)
    h = cli_sign(tmp_path, lab.senders.plaid, "--scheme", "plaid", "--body", str(body), "--kid", KID)
    assert lab.senders.plaid_verifies(h["Plaid-Verification"], PLAID_BODY)
    accepted(lab, upstream, "plaid", h, PLAID_BODY)


# ---- agreement: the independent verifiers and Envoy on the same mutations --------------------


def flip(text: str, at: int) -> str:
    c = text[at]
    return text[:at] + ("A" if c != "A" else "B") + text[at + 1:]


def paypal_cases(s: Senders):
    h = s.paypal_headers(PAYPAL_BODY)
    sig = h["PAYPAL-TRANSMISSION-SIG"]
    yield "genuine", h, PAYPAL_BODY
    yield "body byte", h, PAYPAL_BODY.replace(b"WH-", b"WX-")
    yield "body appended", h, PAYPAL_BODY + b" "
    yield "body empty", h, b""
    yield "signature first byte", dict(h, **{"PAYPAL-TRANSMISSION-SIG": flip(sig, 0)}), PAYPAL_BODY
    yield "signature middle", dict(h, **{"PAYPAL-TRANSMISSION-SIG": flip(sig, len(sig) // 2)}), PAYPAL_BODY
    yield "id changed", dict(h, **{"PAYPAL-TRANSMISSION-ID": "0" + h["PAYPAL-TRANSMISSION-ID"][1:]}), PAYPAL_BODY
    t = h["PAYPAL-TRANSMISSION-TIME"]
    yield "time a second on", dict(h, **{"PAYPAL-TRANSMISSION-TIME": t[:-2] + str((int(t[-3:-1]) + 1) % 60).zfill(2) + "Z"}), PAYPAL_BODY
    yield "another webhook", s.paypal_headers(PAYPAL_BODY, webhook_id="8PT597110X687430LKGECATA"), PAYPAL_BODY
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    yield "another key", s.paypal_headers(PAYPAL_BODY, key=stranger), PAYPAL_BODY
    yield "signed other body", s.paypal_headers(b'{"id":"other"}'), PAYPAL_BODY
    yield "genuine, other body", s.paypal_headers(b'{"id":"other"}'), b'{"id":"other"}'
    yield "genuine, binary body", s.paypal_headers(b"\x00\xff\xfe"), b"\x00\xff\xfe"


@pytest.mark.parametrize("case", range(13))
def test_paypal_envoy_agrees_with_the_independent_verifier(lab, upstream, case):
    name, headers, body = list(paypal_cases(lab.senders))[case]
    theirs = lab.senders.paypal_verifies(headers, body)
    resp = post(lab.envoy, "/hooks/paypal", headers, body)
    ours = resp.status == 200
    assert ours == theirs, (name, resp.status, theirs)
    if ours:
        [rec] = upstream.requests()
        assert rec.body == body
    else:
        assert resp.status == 401, (name, resp.status)
        upstream.assert_nothing_reached()


def plaid_cases(s: Senders):
    t = s.plaid_token(PLAID_BODY)
    head, claims, sig = t.split(".")
    yield "genuine", t, PLAID_BODY
    yield "body byte", t, PLAID_BODY.replace(b"SYNC", b"SYND")
    yield "body appended", t, PLAID_BODY + b"\n"
    yield "signature first byte", f"{head}.{claims}.{flip(sig, 0)}", PLAID_BODY
    yield "signature middle", f"{head}.{claims}.{flip(sig, len(sig) // 2)}", PLAID_BODY
    yield "claims swapped", f"{head}.{s.plaid_token(b'other').split('.')[1]}.{sig}", PLAID_BODY
    yield "another key", s.plaid_token(PLAID_BODY, key=ec.generate_private_key(ec.SECP256R1())), PLAID_BODY
    yield "upper-case hash", s.plaid_token(PLAID_BODY, body_hash=hashlib.sha256(PLAID_BODY).hexdigest().upper()), PLAID_BODY
    yield "iat 4 minutes ago", s.plaid_token(PLAID_BODY, iat=now() - 240), PLAID_BODY
    yield "iat 6 minutes ago", s.plaid_token(PLAID_BODY, iat=now() - 360), PLAID_BODY
    yield "genuine, other body", s.plaid_token(b"{}"), b"{}"
    yield "hash of another body", s.plaid_token(PLAID_BODY, body_hash=hashlib.sha256(b"{}").hexdigest()), PLAID_BODY
    rs = pyjwt.encode({"iat": now(), "request_body_sha256": hashlib.sha256(PLAID_BODY).hexdigest()},
                      rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256",
                      headers={"kid": KID})
    yield "RS256", rs, PLAID_BODY


@pytest.mark.parametrize("case", range(13))
def test_plaid_envoy_agrees_with_the_independent_verifier(lab, upstream, case):
    name, token, body = list(plaid_cases(lab.senders))[case]
    theirs = lab.senders.plaid_verifies(token, body)
    resp = post(lab.envoy, "/hooks/plaid", {"Plaid-Verification": token}, body)
    ours = resp.status == 200
    assert ours == theirs, (name, resp.status, theirs)
    if ours:
        [rec] = upstream.requests()
        assert rec.body == body
    else:
        assert resp.status == 401, (name, resp.status)
        upstream.assert_nothing_reached()
