"""checks.jwt with public keys (SPEC 2, 2.1 "Keys from a directory", 2.3): keys made here
with `cryptography`, the JWKS served by a mock key server behind the configured cluster,
tokens signed by PyJWT and checked by PyJWT against the same JWKS (an independent
verifier), and Envoy agreeing with it: what it accepts reaches the upstream, what it
refuses does not, each refusal with its reason counter and warn line.

Before the first good fetch a request waits for the keys: the filter fetches them for it
(the key server answering late), forwards it once they are in, and refuses it with 503 when
the key server does not answer within the timeout or answers an error.

Faults: an unknown `kid` (one early refetch, then the new key verifies; another unknown
kid within the minute fetches nothing), HS/RS confusion, `alg: none`, expired, wrong
audience, email not allowed, the key server down before the first fetch (503 with
Retry-After) and after it (the last good keys serve)."""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import json
import subprocess
import time

import google.auth.exceptions
import google.auth.transport
import jwt as pyjwt
import pytest
from google.oauth2 import id_token
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

import denials
import harness
import mock_api
import mtls
import prometheus
from denials import UNAUTHORIZED, now

ISSUER = "https://issuer.example.test"
AUDIENCE = "webhooks"
EMAIL = "pusher@project.iam.gserviceaccount.com"
GOOGLE_AUDIENCE = "https://hooks.example.test/pubsub"
BODY = b'{"type":"record.created","id":42}'
GITHUB_SECRET = "jwks-e2e-github-secret-7c1d"


def make_keys() -> dict:
    return {
        "r1": (rsa.generate_private_key(public_exponent=65537, key_size=2048), "RSA"),
        "e256": (ec.generate_private_key(ec.SECP256R1()), "EC"),
        "e384": (ec.generate_private_key(ec.SECP384R1()), "EC"),
        "d1": (ed25519.Ed25519PrivateKey.generate(), "OKP"),
    }


def public_jwk(kid: str, key) -> dict:
    pub = key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        d = json.loads(RSAAlgorithm.to_jwk(pub))
    elif isinstance(pub, ed25519.Ed25519PublicKey):
        d = json.loads(OKPAlgorithm.to_jwk(pub))
    else:
        d = json.loads(ECAlgorithm.to_jwk(pub))
    d["kid"] = kid
    d.pop("key_ops", None)
    return d


def jwks(keys: dict) -> dict:
    return {"keys": [public_jwk(kid, k) for kid, (k, _) in keys.items()]}


def timing(path: str, **extra) -> dict:
    block = {"cluster": "jwks_api", "authority": "issuer.example.test", "path": path,
             "refresh_seconds": 3600, "retry_seconds": 1, "timeout_ms": 500}
    block.update(extra)
    return block


ALGS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"]


def route(name: str, jwt_cfg: dict) -> dict:
    return {"name": name, "match": {"path_prefix": f"/hooks/{name}"}, "checks": {"jwt": jwt_cfg}}


class Lab:
    def __init__(self, factory):
        self.keys = make_keys()
        self.api = mock_api.MockApi.start()
        self.api.answer("/jwks", list=jwks(self.keys))
        self.api.answer("/jwks-cold", status=500)
        # Both fail their first periodic fetch (which then backs off for minutes): the
        # keys are not there when the tests' requests arrive.
        self.api.answer("/jwks-late", status=500)
        self.api.answer("/jwks-never", status=500)
        self.api.answer("/jwks-chunked", status=500)
        self.api.answer("/jwks-both", status=500)
        self.api.answer("/jwks-burst", status=500)
        self.api.answer("/oauth2/v3/certs", list={"keys": [dict(public_jwk("r1", self.keys["r1"][0]),
                                                                 alg="RS256", use="sig")]})
        policy = {"api": "v1", "routes": [
            route("keys", {"algorithms": ALGS, "issuer": ISSUER, "audiences": [AUDIENCE],
                           "jwks": {"remote": timing("/jwks")}}),
            route("mail", {"algorithms": ["ES256"], "issuer": ISSUER, "audiences": [AUDIENCE], "emails": [EMAIL],
                           "jwks": {"remote": timing("/jwks")}}),
            route("secret", {"secrets": [{"id": "current", "value": "jwks-e2e-shared-secret-1f2e"}]}),
            route("cold", {"algorithms": ["RS256"], "audiences": [AUDIENCE],
                           "jwks": {"remote": timing("/jwks-cold", refresh_seconds=10)}}),
            route("late", {"algorithms": ["RS256"], "audiences": [AUDIENCE],
                           "jwks": {"remote": timing("/jwks-late", retry_seconds=600, timeout_ms=4000)}}),
            route("never", {"algorithms": ["RS256"], "audiences": [AUDIENCE],
                            "jwks": {"remote": timing("/jwks-never", retry_seconds=600, timeout_ms=1000)}}),
            route("chunked", {"algorithms": ["RS256"], "audiences": [AUDIENCE],
                              "jwks": {"remote": timing("/jwks-chunked", retry_seconds=600, timeout_ms=4000)}}),
            route("burst", {"algorithms": ["RS256"], "audiences": [AUDIENCE],
                            "jwks": {"remote": timing("/jwks-burst", retry_seconds=600, timeout_ms=4000)}}),
            # A token and a body signature: the body checks run once the keys are in.
            {"name": "both", "match": {"path_prefix": "/hooks/both"}, "checks": {
                "jwt": {"algorithms": ["RS256"], "audiences": [AUDIENCE],
                        "jwks": {"remote": timing("/jwks-both", retry_seconds=600, timeout_ms=4000)}},
                "signature": {"scheme": "github", "secrets": [{"id": "gh", "value": GITHUB_SECRET}]}}},
            # Google's path on the mock; the preset knows Google's authority and path.
            route("google", {"preset": "google", "audiences": [GOOGLE_AUDIENCE], "emails": [EMAIL],
                             "jwks": {"remote": {"cluster": "jwks_api", "refresh_seconds": 3600,
                                                 "retry_seconds": 1, "timeout_ms": 500}}}),
        ]}
        cfg = harness.build_config(policy, factory.upstream.port, {}, hcm_options=denials.HCM)
        cfg["static_resources"]["clusters"].append(mtls.api_cluster(self.api.port, "jwks_api"))
        self.envoy = factory.start_config(cfg, name="jwks", concurrency=2,
                                          secrets=harness.collect_secrets(policy, {}))
        # The first fetch of /jwks (both routes share the document, each its own list).
        for name, keys in (("keys", 4), ("mail", 4), ("google", 1)):
            mtls.wait_for(lambda n=name, k=keys: (mtls.gauge(self.envoy, mtls.list_metric(n, "jwt", "entries")) or 0)
                          >= k, 10, f"{name}'s JWKS to load")
        for name in ("late", "never", "chunked", "both", "burst"):
            failed = mtls.list_metric(name, "jwt", "fetch_failed")
            mtls.wait_for(lambda f=failed: self.envoy.stats(f).get(f, 0) >= 1, 10, f"{name}'s first fetch to fail")

    def sign(self, kid: str, alg: str, claims: dict | None = None, key=None, headers: dict | None = None) -> str:
        key = key if key is not None else self.keys[kid][0]
        head = {"kid": kid} if kid else {}
        head.update(headers or {})
        return pyjwt.encode(claims if claims is not None else good_claims(), key, algorithm=alg, headers=head)

    def independent(self, token: str, **options) -> bool:
        """PyJWT's verdict: the key by kid from the JWKS the mock serves now."""
        doc = pyjwt.PyJWKSet.from_dict(jwks(self.keys))
        try:
            kid = pyjwt.get_unverified_header(token).get("kid")
            key = next(k for k in doc.keys if k.key_id == kid)
            pyjwt.decode(token, key.key, algorithms=ALGS, audience=AUDIENCE, issuer=ISSUER, **options)
            return True
        except (pyjwt.PyJWTError, StopIteration):
            return False


@pytest.fixture(scope="module")
def lab(envoy_factory):
    lab = Lab(envoy_factory)
    yield lab
    lab.api.stop()


def good_claims(**overrides) -> dict:
    t = now()
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "sender-1", "iat": t, "exp": t + 300,
         "email": EMAIL, "email_verified": True}
    c.update(overrides)
    return {k: v for k, v in c.items() if v is not None}


def post(envoy, path: str, token: str, rid: str | None = None):
    headers = [("Content-Type", "application/json"), ("Authorization", f"Bearer {token}")]
    if rid:
        headers.append(("X-Request-Id", rid))
    return harness.http1(envoy.port, "POST", path, headers, BODY)


def accepted(lab: Lab, upstream, route_name: str, token: str):
    before = denials.counters(lab.envoy, route_name + ".")
    resp = post(lab.envoy, f"/hooks/{route_name}", token)
    assert resp.status == 200, (resp.status, resp.body)
    [rec] = upstream.requests()
    assert rec.body == BODY
    assert rec.header_values("x-webhook-guard") == [f"route={route_name}"]
    assert rec.header_values("authorization") == [f"Bearer {token}"]
    assert denials.wait_counter_delta(lab.envoy, route_name, before, {"allowed": 1}) == {"allowed": 1}
    # Asserted: a test may go on with a request that must reach nothing.
    upstream.reset()


def refused(lab: Lab, upstream, route_name: str, token: str, reason: str, status: int = 401):
    before = denials.counters(lab.envoy, route_name + ".")
    rid = denials.request_id("jwks")
    resp = post(lab.envoy, f"/hooks/{route_name}", token, rid)
    assert resp.status == status, (resp.status, resp.body)
    if status == 401:
        assert resp.json() == UNAUTHORIZED
    upstream.assert_nothing_reached()
    assert denials.wait_counter_delta(lab.envoy, route_name, before, {f"denied.{reason}": 1}) == {
        f"denied.{reason}": 1}
    line = denials.assert_denial_logged(lab.envoy, rid, route_name, reason)
    signature = token.split(".")[2]
    assert token not in line and (not signature or signature not in line)
    return resp


@pytest.mark.parametrize("alg,kid", [("RS256", "r1"), ("PS256", "r1"), ("ES256", "e256"), ("ES384", "e384"),
                                     ("EdDSA", "d1")])
def test_each_public_key_algorithm_is_accepted_as_pyjwt_accepts_it(lab, upstream, alg, kid):
    token = lab.sign(kid, alg)
    assert lab.independent(token)
    accepted(lab, upstream, "keys", token)


def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(lab, upstream):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = lab.sign("r1", "RS256", key=stranger)
    assert not lab.independent(token)
    refused(lab, upstream, "keys", token, "token_signature_mismatch")


def test_hs256_signed_with_the_public_key_is_refused_on_a_jwks_route(lab, upstream):
    # The classic confusion: the RSA public key (PEM, as published) used as an HMAC secret.
    pem = lab.keys["r1"][0].public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    token = denials.jwt(good_claims(), pem, "HS256", header={"alg": "HS256", "kid": "r1"})
    assert not lab.independent(token)
    refused(lab, upstream, "keys", token, "token_algorithm_not_allowed")


def test_an_rs256_token_is_refused_on_a_secrets_route(lab, upstream):
    refused(lab, upstream, "secret", lab.sign("r1", "RS256"), "token_algorithm_not_allowed")


def test_alg_none_is_refused(lab, upstream):
    token = denials.jwt(good_claims(), b"", "none", header={"alg": "none", "kid": "r1"})
    refused(lab, upstream, "keys", token, "token_algorithm_not_allowed")


def test_an_expired_token_is_refused(lab, upstream):
    token = lab.sign("e256", "ES256", good_claims(exp=now() - 120, iat=now() - 600))
    assert not lab.independent(token)
    refused(lab, upstream, "keys", token, "token_expired")


def test_a_token_for_another_audience_is_refused(lab, upstream):
    token = lab.sign("d1", "EdDSA", good_claims(aud="billing"))
    assert not lab.independent(token)
    refused(lab, upstream, "keys", token, "token_audience_mismatch")


def test_emails_allow_only_the_listed_verified_account(lab, upstream):
    accepted(lab, upstream, "mail", lab.sign("e256", "ES256"))
    refused(lab, upstream, "mail", lab.sign("e256", "ES256", good_claims(email="other@x.iam.gserviceaccount.com")),
            "token_email_mismatch")
    refused(lab, upstream, "mail", lab.sign("e256", "ES256", good_claims(email_verified=False)),
            "token_email_unverified")


def test_an_unknown_kid_brings_one_refetch_and_the_new_key_then_verifies(lab, upstream):
    new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    lab.keys["r2"] = (new, "RSA")
    lab.api.answer("/jwks", list=jwks(lab.keys))
    token = lab.sign("r2", "RS256")
    assert lab.independent(token)
    hits = len(lab.api.hits_of("/jwks"))
    fetched = mtls.list_metric("keys", "jwt", "fetch_ok")
    before = lab.envoy.stats(fetched).get(fetched, 0)
    refused(lab, upstream, "keys", token, "token_key_unknown")
    mtls.wait_for(lambda: lab.envoy.stats(fetched).get(fetched, 0) > before, 5, "the early refetch")
    # One fetch for this list (the `mail` list, which saw no unknown kid, fetched nothing).
    assert len(lab.api.hits_of("/jwks")) == hits + 1
    # The worker that fetched has the new key at once; another worker reads the shared
    # copy at its first request a sync interval (1 s) after its last sync.
    time.sleep(1.5)
    for _ in range(4):
        accepted(lab, upstream, "keys", token)
    assert len(lab.api.hits_of("/jwks")) == hits + 1
    # Another unknown kid within the minute: refused, and nothing is fetched.
    hits = len(lab.api.hits_of("/jwks"))
    refused(lab, upstream, "keys", lab.sign("r3", "RS256", key=new), "token_key_unknown")
    time.sleep(2.5)
    assert len(lab.api.hits_of("/jwks")) == hits


def test_a_request_before_the_first_fetch_waits_for_the_keys_and_is_forwarded_once_they_arrive(lab, upstream):
    token = lab.sign("r1", "RS256")
    assert lab.independent(token)
    # The key server answers, 1.5 s late.
    lab.api.answer("/jwks-late", list=jwks(lab.keys), slow=1.5)
    hits = len(lab.api.hits_of("/jwks-late"))
    started = time.monotonic()
    accepted(lab, upstream, "late", token)
    assert time.monotonic() - started >= 1.5, "answered before the keys could have arrived"
    # One fetch, the request's own: its answer is stored for every later request.
    assert len(lab.api.hits_of("/jwks-late")) == hits + 1
    ok = mtls.list_metric("late", "jwt", "fetch_ok")
    assert lab.envoy.stats(ok).get(ok, 0) == 1
    lab.envoy.wait_log(r"remote list late\.jwt loaded for a waiting request, \d+ entries")
    for _ in range(4):
        accepted(lab, upstream, "late", token)
    assert len(lab.api.hits_of("/jwks-late")) == hits + 1


def test_a_burst_before_the_first_fetch_waits_for_the_keys_and_every_request_is_forwarded(lab, upstream):
    token = lab.sign("r1", "RS256")
    lab.api.answer("/jwks-burst", list=jwks(lab.keys), slow=1.0)
    hits = len(lab.api.hits_of("/jwks-burst"))
    before = denials.counters(lab.envoy, "burst.")
    # Four requests at once, spread over both workers, none of which has the keys yet.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(lab.envoy, "/hooks/burst", token), range(4)))
    assert [r.status for r in answers] == [200] * 4, [(r.status, r.body) for r in answers]
    recs = upstream.requests()
    assert len(recs) == 4 and all(r.body == BODY for r in recs)
    assert denials.wait_counter_delta(lab.envoy, "burst", before, {"allowed": 4}) == {"allowed": 4}
    # Each waiting request fetched for itself (no host wakes one request from another's
    # answer), never more than the four.
    assert 1 <= len(lab.api.hits_of("/jwks-burst")) - hits <= 4
    upstream.reset()


def test_a_body_that_arrives_while_the_request_waits_is_held_then_forwarded_whole(lab, upstream):
    token = lab.sign("r1", "RS256")
    lab.api.answer("/jwks-chunked", list=jwks(lab.keys), slow=1.0)
    chunks = [b'{"type":"record.', b'created","id":', b'42}']
    before = denials.counters(lab.envoy, "chunked.")
    # The chunks arrive while the keys are being fetched (0.3 s apart, the keys after 1 s).
    resp = harness.http1_chunked(lab.envoy.port, "/hooks/chunked",
                                 [("Content-Type", "application/json"), ("Authorization", f"Bearer {token}")],
                                 chunks, delay=0.3)
    assert resp.status == 200, (resp.status, resp.body)
    [rec] = upstream.requests()
    assert rec.body == b"".join(chunks) == BODY
    assert rec.header_values("x-webhook-guard") == ["route=chunked"]
    assert denials.wait_counter_delta(lab.envoy, "chunked", before, {"allowed": 1}) == {"allowed": 1}
    upstream.reset()


@pytest.mark.parametrize("tampered", [False, True])
def test_a_body_signature_is_checked_on_the_body_held_while_the_keys_were_fetched(lab, upstream, tampered):
    token = lab.sign("r1", "RS256")
    if not tampered:
        lab.api.answer("/jwks-both", list=jwks(lab.keys), slow=1.5)
    signature = "sha256=" + hmac.new(GITHUB_SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    sent = BODY.replace(b"42", b"43") if tampered else BODY
    chunks = [sent[:10], sent[10:20], sent[20:]]
    before = denials.counters(lab.envoy, "both.")
    # The whole body arrives (0.9 s) before the keys (1.5 s) on the first request.
    resp = harness.http1_chunked(lab.envoy.port, "/hooks/both",
                                 [("Content-Type", "application/json"), ("Authorization", f"Bearer {token}"),
                                  ("X-Hub-Signature-256", signature)], chunks, delay=0.3)
    if tampered:
        assert resp.status == 401, (resp.status, resp.body)
        upstream.assert_nothing_reached()
        want = {"denied.signature_mismatch": 1}
    else:
        assert resp.status == 200, (resp.status, resp.body)
        [rec] = upstream.requests()
        assert rec.body == BODY
        upstream.reset()
        want = {"allowed": 1, "secret.gh.matched": 1}
    assert denials.wait_counter_delta(lab.envoy, "both", before, want) == want


def test_a_request_waiting_for_keys_the_server_never_sends_gets_503_after_the_timeout(lab, upstream):
    token = lab.sign("r1", "RS256")
    lab.api.answer("/jwks-never", list=jwks(lab.keys), slow=8.0)
    started = time.monotonic()
    resp = refused(lab, upstream, "never", token, "fetch_timeout", status=503)
    waited = time.monotonic() - started
    assert 1.0 <= waited < 5.0, waited
    assert resp.json() == {"error": "unavailable"}
    assert int(resp.header("retry-after")) == 10
    lab.envoy.wait_log(r"remote list never\.jwt fetch for a waiting request failed: no answer within the timeout")


def test_key_server_down_before_the_first_fetch_gives_503_then_the_last_good_keys_serve(lab, upstream):
    token = lab.sign("r1", "RS256")
    # The request waits for the fetch the filter makes for it; the server answers 500.
    resp = refused(lab, upstream, "cold", token, "fetch_status", status=503)
    assert int(resp.header("retry-after")) == 10
    lab.api.answer("/jwks-cold", list=jwks(lab.keys))
    ok = mtls.list_metric("cold", "jwt", "fetch_ok")
    mtls.wait_for(lambda: lab.envoy.stats(ok).get(ok, 0) >= 1, 20, "the cold JWKS to load")
    accepted(lab, upstream, "cold", token)
    # The server fails from now on: the next refresh fails, the keys fetched still serve.
    lab.api.answer("/jwks-cold", status=500)
    failed = mtls.list_metric("cold", "jwt", "fetch_failed")
    before = lab.envoy.stats(failed).get(failed, 0)
    mtls.wait_for(lambda: lab.envoy.stats(failed).get(failed, 0) > before, 20, "a failed refresh")
    accepted(lab, upstream, "cold", token)
    assert "keeping the last good list" in lab.envoy.log()


def test_a_malformed_or_weak_jwks_is_refused_and_the_last_good_keys_stay(lab, upstream):
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    lab.api.answer("/jwks-cold", list={"keys": [public_jwk("r1", weak)]})
    failed = mtls.list_metric("cold", "jwt", "fetch_failed")
    before = lab.envoy.stats(failed).get(failed, 0)
    mtls.wait_for(lambda: lab.envoy.stats(failed).get(failed, 0) > before, 25, "the weak JWKS to be refused")
    lab.envoy.wait_log(r"key \[0\] is weak: an RSA modulus under 2048 bits")
    accepted(lab, upstream, "cold", lab.sign("r1", "RS256"))


@pytest.mark.parametrize("alg,kid", [("PS256", "r1"), ("ES384", "e384"), ("EdDSA", "d1")])
def test_tokens_minted_by_the_command_from_a_pem_key_are_accepted(lab, upstream, tmp_path, alg, kid):
    pem = lab.keys[kid][0].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
    key = tmp_path / f"{kid}.pem"
    key.write_bytes(pem)
    cli = harness.REPO / "target" / "release" / "webhook-guard"
    if not cli.is_file():
        pytest.fail(f"the command is not built: {cli} is missing (run `make cli`)", pytrace=False)
    out = subprocess.run([str(cli), "jwt", "--key", str(key), "--alg", alg, "--kid", kid,
                          "--claim", f"iss={ISSUER}", "--claim", f"aud={AUDIENCE}"],
                         capture_output=True, text=True, check=True, timeout=30)
    token = out.stdout.strip()
    assert lab.independent(token)
    accepted(lab, upstream, "keys", token)


# ---- preset: google --------------------------------------------------------------------------


class MockCerts(google.auth.transport.Request):
    """google-auth's transport, answering the certificate URL with what the mock key server
    serves Envoy: google-auth then verifies as it verifies Google's tokens."""

    def __init__(self, lab: Lab):
        self.lab = lab

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        assert url.startswith("https://www.googleapis.com/oauth2/"), url
        doc = self.lab.api.answers["/oauth2/v3/certs"].document

        class Response(google.auth.transport.Response):
            status = 200
            headers = {"content-type": "application/json"}
            data = json.dumps(doc).encode()

        return Response()


def google_claims(**overrides) -> dict:
    t = now()
    c = {"iss": "https://accounts.google.com", "aud": GOOGLE_AUDIENCE, "azp": "1234567890", "sub": "1234567890",
         "email": EMAIL, "email_verified": True, "iat": t, "exp": t + 3600}
    c.update(overrides)
    return {k: v for k, v in c.items() if v is not None}


def google_verifies(lab: Lab, token: str) -> bool:
    try:
        id_token.verify_oauth2_token(token, MockCerts(lab), GOOGLE_AUDIENCE)
        return True
    except (ValueError, pyjwt.PyJWTError, google.auth.exceptions.GoogleAuthError):
        return False


@pytest.mark.parametrize("iss", ["https://accounts.google.com", "accounts.google.com"])
def test_google_tokens_are_accepted_as_google_auth_accepts_them(lab, upstream, iss):
    token = lab.sign("r1", "RS256", google_claims(iss=iss))
    assert google_verifies(lab, token)
    accepted(lab, upstream, "google", token)


@pytest.mark.parametrize("claims,reason", [
    ({"iss": "https://accounts.google.com.evil.test"}, "token_issuer_mismatch"),
    ({"aud": "https://other.example.test/pubsub"}, "token_audience_mismatch"),
    ({"exp": -120}, "token_expired"),
], ids=["issuer", "audience", "expired"])
def test_google_tokens_google_auth_refuses_are_refused(lab, upstream, claims, reason):
    if "exp" in claims:
        claims = {"exp": now() + claims["exp"], "iat": now() - 3600}
    token = lab.sign("r1", "RS256", google_claims(**claims))
    assert not google_verifies(lab, token)
    refused(lab, upstream, "google", token, reason)


@pytest.mark.parametrize("claims,reason", [
    ({"email": "stranger@other-project.iam.gserviceaccount.com"}, "token_email_mismatch"),
    ({"email_verified": None}, "token_email_unverified"),
    ({"iat": None}, "token_iat_missing"),
], ids=["email", "unverified", "no-iat"])
def test_google_preset_applies_the_email_rules_google_documents(lab, upstream, claims, reason):
    # google-auth checks the signature and the issuer; which service account may push is
    # the receiver's check, as Google's Pub/Sub documentation says: the preset makes it.
    refused(lab, upstream, "google", lab.sign("r1", "RS256", google_claims(**claims)), reason)


def test_google_route_refuses_an_es256_token_of_a_key_google_does_not_use(lab, upstream):
    refused(lab, upstream, "google", lab.sign("e256", "ES256", google_claims()), "token_algorithm_not_allowed")


def test_jwks_list_metrics_reach_prometheus_with_the_list_label(lab):
    scrape = prometheus.scrape(lab.envoy)
    assert scrape.value("webhook_guard_list_fetch_ok", list="keys.jwt") >= 1
    assert scrape.value("webhook_guard_list_entries", list="google.jwt") == 1
