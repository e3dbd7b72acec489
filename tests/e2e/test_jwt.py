"""checks.jwt (SPEC 2, 3, 4): HS256/384/512 bearer tokens made here with hmac and
base64url; the Authorization header (scheme in any case) or a configured header; every
refusal (expired, not yet valid, issuer, audience, alg none, alg not allowed, tampered,
missing, repeated) is a 401 with its own reason counter and one warn line, and the
upstream sees nothing; no token reaches the log."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

import denials
import harness
from denials import UNAUTHORIZED, jwt, now

SECRET = "jwt-e2e-shared-secret-8c1d5e2f"
CUSTOM = "jwt-e2e-custom-header-secret-44"
ROT_NEW = "jwt-e2e-rotation-new-0f0f0f"
ROT_OLD = "jwt-e2e-rotation-old-a5a5a5"
AGE = "jwt-e2e-max-age-secret-9191"
ENV = {"JWT_SECRET": SECRET}


def route(name: str, prefix: str, jwt_cfg: dict) -> dict:
    return {"name": name, "match": {"path_prefix": prefix}, "checks": {"jwt": jwt_cfg}}


POLICY = {"api": "v1", "routes": [
    route("jwt", "/hooks/jwt", {"secrets": [{"id": "current", "env": "JWT_SECRET"}],
                                "algorithms": ["HS256", "HS384", "HS512"],
                                "issuer": "flatfile", "audiences": ["webhooks"]}),
    route("hs256", "/hooks/hs256", {"secrets": [{"id": "current", "env": "JWT_SECRET"}]}),
    route("custom", "/hooks/custom", {"secrets": [{"id": "custom", "value": CUSTOM}], "header": "X-Webhook-Token"}),
    route("rotation", "/hooks/rotation", {"algorithms": ["HS384"], "secrets": [
        {"id": "current", "value": ROT_NEW},
        {"id": "previous", "value": ROT_OLD, "not_after": "2099-01-31T00:00:00Z"},
    ]}),
    route("maxage", "/hooks/maxage", {"secrets": [{"id": "age", "value": AGE}], "require_exp": False,
                                      "max_age_seconds": 300, "leeway_seconds": 0}),
]}

BODY = b'{"type":"record.created","id":42}'
SENT: list[str] = []  # every token sent, for the log check at the end


@pytest.fixture(scope="module")
def envoy(envoy_factory):
    return envoy_factory.start(POLICY, ENV, name="jwt", hcm_options=denials.HCM)


def claims(**overrides) -> dict:
    t = now()
    c = {"iss": "flatfile", "aud": "webhooks", "sub": "sender-1", "iat": t, "exp": t + 300}
    c.update(overrides)
    return {k: v for k, v in c.items() if v is not None}


def good(alg: str = "HS256", **overrides) -> str:
    return jwt(claims(**overrides), SECRET, alg)


def post(envoy, path, headers=(), rid=None):
    headers = [("Content-Type", "application/json"), *headers]
    for _, v in headers:
        SENT.append(v.split()[-1] if v else v)
    if rid:
        headers.append(("X-Request-Id", rid))
    return harness.http1(envoy.port, "POST", path, headers, BODY)


def bearer(token: str, scheme: str = "Bearer") -> list[tuple[str, str]]:
    return [("Authorization", f"{scheme} {token}")]


def accepted(envoy, upstream, path, headers, route_name, secret_id):
    before = denials.counters(envoy, route_name + ".")
    resp = post(envoy, path, headers)
    assert resp.status == 200, (resp.status, resp.body)
    [rec] = upstream.requests()
    assert rec.body == BODY
    assert rec.header_values("x-webhook-guard") == [f"route={route_name}"]
    moved = denials.wait_counter_delta(envoy, route_name, before, {"allowed": 1, f"secret.{secret_id}.matched": 1})
    assert moved == {"allowed": 1, f"secret.{secret_id}.matched": 1}
    return rec


def refused(envoy, upstream, path, headers, route_name, reason):
    before = denials.counters(envoy, route_name + ".")
    rid = denials.request_id("jwt")
    resp = post(envoy, path, headers, rid)
    assert resp.status == 401, (resp.status, resp.body)
    assert resp.json() == UNAUTHORIZED
    assert resp.header("content-type") == "application/json"
    upstream.assert_nothing_reached()
    assert denials.wait_counter_delta(envoy, route_name, before, {f"denied.{reason}": 1}) == {f"denied.{reason}": 1}
    line = denials.assert_denial_logged(envoy, rid, route_name, reason)
    for _, v in headers:
        assert v.split()[-1] not in line
    return line


# ---- accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_each_hs_algorithm_is_accepted_and_the_token_forwarded(envoy, upstream, alg):
    token = good(alg)
    rec = accepted(envoy, upstream, "/hooks/jwt", bearer(token), "jwt", "current")
    # Not a secret header: the request goes upstream unchanged, token included.
    assert rec.header_values("authorization") == [f"Bearer {token}"]


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "beARer"])
def test_bearer_scheme_is_case_insensitive(envoy, upstream, scheme):
    accepted(envoy, upstream, "/hooks/jwt", bearer(good(), scheme), "jwt", "current")


def test_audience_list_holding_ours_is_accepted(envoy, upstream):
    accepted(envoy, upstream, "/hooks/jwt", bearer(good(aud=["billing", "webhooks"])), "jwt", "current")


@pytest.mark.parametrize("overrides", [{"exp": -30}, {"nbf": 30}], ids=["expired-30s-ago", "valid-in-30s"])
def test_default_leeway_absorbs_clock_skew(envoy, upstream, overrides):
    t = now()
    c = {k: t + v for k, v in overrides.items()}
    accepted(envoy, upstream, "/hooks/jwt", bearer(good(**c)), "jwt", "current")


@pytest.mark.parametrize("value", ["{token}", "Bearer {token}"], ids=["bare", "bearer"])
def test_configured_header_carries_the_token(envoy, upstream, value):
    token = jwt({"exp": now() + 60}, CUSTOM)
    accepted(envoy, upstream, "/hooks/custom", [("X-Webhook-Token", value.format(token=token))], "custom", "custom")


@pytest.mark.parametrize("key,secret_id", [(ROT_NEW, "current"), (ROT_OLD, "previous")])
def test_rotation_either_secret_is_accepted_and_counted(envoy, upstream, key, secret_id):
    token = jwt({"exp": now() + 60}, key, "HS384")
    accepted(envoy, upstream, "/hooks/rotation", bearer(token), "rotation", secret_id)


def test_max_age_token_recently_issued_is_accepted(envoy, upstream):
    token = jwt({"iat": now() - 10}, AGE)
    accepted(envoy, upstream, "/hooks/maxage", bearer(token), "maxage", "age")


# ---- refused -------------------------------------------------------------------------------


def _tampered() -> str:
    h, _, s = good().split(".")
    return f"{h}.{denials.jwt_segment(claims(sub='someone-else'))}.{s}"


def _none_with_signature() -> str:
    token = good()
    h = denials.jwt_segment({"alg": "none", "typ": "JWT"})
    return h + token[token.index("."):]


def _raw(header_json: str, claims_json: str, key: str = SECRET) -> str:
    """A token from literal JSON (to repeat a member), correctly HS256-signed."""
    signing_input = f"{denials.b64url(header_json.encode())}.{denials.b64url(claims_json.encode())}"
    mac = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{denials.b64url(mac)}"


def _claims_json() -> str:
    return json.dumps(claims())


REFUSALS = [
    ("expired", lambda: bearer(good(exp=now() - 3600)), "token_expired"),
    ("expired-past-leeway", lambda: bearer(good(exp=now() - 120)), "token_expired"),
    ("not-yet-valid", lambda: bearer(good(nbf=now() + 3600)), "token_not_yet_valid"),
    ("not-yet-valid-past-leeway", lambda: bearer(good(nbf=now() + 120)), "token_not_yet_valid"),
    ("wrong-issuer", lambda: bearer(good(iss="someone-else")), "token_issuer_mismatch"),
    ("no-issuer", lambda: bearer(good(iss=None)), "token_issuer_mismatch"),
    ("wrong-audience", lambda: bearer(good(aud="billing")), "token_audience_mismatch"),
    ("audience-list-without-ours", lambda: bearer(good(aud=["billing", "webhook"])), "token_audience_mismatch"),
    ("no-exp", lambda: bearer(good(exp=None)), "token_exp_missing"),
    ("alg-none", lambda: bearer(jwt(claims(), SECRET, "none", header={"alg": "none", "typ": "JWT"})),
     "token_algorithm_not_allowed"),
    ("alg-none-with-signature", lambda: bearer(_none_with_signature()), "token_algorithm_not_allowed"),
    ("alg-rs256", lambda: bearer(jwt(claims(), SECRET, header={"alg": "RS256", "typ": "JWT"}, sign_alg="HS256")),
     "token_algorithm_not_allowed"),
    ("repeated-alg-member", lambda: bearer(_raw('{"alg":"HS256","alg":"none"}', _claims_json())), "token_malformed"),
    ("repeated-exp-claim", lambda: bearer(_raw('{"alg":"HS256"}', _claims_json()[:-1] + f',"exp":{now() - 3600}}}')),
     "token_malformed"),
    ("tampered-payload", lambda: bearer(_tampered()), "token_signature_mismatch"),
    ("other-secret", lambda: bearer(jwt(claims(), "not-the-secret")), "token_signature_mismatch"),
    ("truncated-signature", lambda: bearer(good()[:-2]), "token_malformed"),
    ("no-bearer-scheme", lambda: [("Authorization", good())], "token_malformed"),
    ("basic-scheme", lambda: [("Authorization", "Basic dXNlcjpwYXNz")], "token_malformed"),
    ("missing", lambda: [("X-Webhook-Token", good())], "token_missing"),
    # Envoy joins a repeated Authorization (one of its inline headers) into one value,
    # "Bearer a,Bearer b", so the plugin sees one malformed credential, not two headers.
    ("repeated", lambda: bearer(good()) + bearer(good()), "token_malformed"),
    ("repeated-one-bad", lambda: bearer(good()) + bearer(jwt(claims(), "not-the-secret")), "token_malformed"),
]


@pytest.mark.parametrize("headers,reason", [(h, r) for _, h, r in REFUSALS], ids=[i for i, _, _ in REFUSALS])
def test_refused_token_gets_401_and_its_reason(envoy, upstream, headers, reason):
    refused(envoy, upstream, "/hooks/jwt", headers(), "jwt", reason)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_algorithm_outside_the_allow_list_is_refused(envoy, upstream, alg):
    """The hs256 route allows only HS256 (the default); a correctly signed HS384/HS512
    token is refused before its signature matters."""
    refused(envoy, upstream, "/hooks/hs256", bearer(jwt({"exp": now() + 60}, SECRET, alg)), "hs256",
            "token_algorithm_not_allowed")


def test_algorithm_names_are_case_sensitive(envoy, upstream):
    token = jwt({"exp": now() + 60}, SECRET, header={"alg": "hs256", "typ": "JWT"}, sign_alg="HS256")
    refused(envoy, upstream, "/hooks/hs256", bearer(token), "hs256", "token_algorithm_not_allowed")


def test_token_with_an_audience_is_refused_where_none_is_configured(envoy, upstream):
    refused(envoy, upstream, "/hooks/hs256", bearer(jwt({"exp": now() + 60, "aud": "webhooks"}, SECRET)), "hs256",
            "token_audience_mismatch")


def test_configured_header_ignores_authorization(envoy, upstream):
    token = jwt({"exp": now() + 60}, CUSTOM)
    refused(envoy, upstream, "/hooks/custom", bearer(token), "custom", "token_missing")


@pytest.mark.parametrize("values", [["{t}", "{t}"], ["Bearer {t}", "{t}"]], ids=["same-twice", "two-spellings"])
def test_repeated_configured_header_is_refused(envoy, upstream, values):
    """A header Envoy keeps as separate lines: ambiguous, refused even if both are valid."""
    token = jwt({"exp": now() + 60}, CUSTOM)
    refused(envoy, upstream, "/hooks/custom", [("X-Webhook-Token", v.format(t=token)) for v in values], "custom",
            "token_repeated")


def test_max_age_old_token_is_refused(envoy, upstream):
    refused(envoy, upstream, "/hooks/maxage", bearer(jwt({"iat": now() - 600}, AGE)), "maxage", "token_too_old")


def test_max_age_token_without_iat_is_refused(envoy, upstream):
    refused(envoy, upstream, "/hooks/maxage", bearer(jwt({"sub": "x"}, AGE)), "maxage", "token_iat_missing")


def test_no_token_or_secret_in_the_log(envoy):
    """Last: after every request above, at wasm debug level."""
    log = envoy.log()
    assert "token_signature_mismatch" in log
    envoy.assert_no_secret_in_log()
    tokens = [t for t in SENT if t and t.count(".") == 2]
    assert len(tokens) > 20
    for token in tokens:
        assert token not in log
        # nor the signature segment alone
        sig = token.rsplit(".", 1)[1]
        if len(sig) >= 16:
            assert sig not in log
