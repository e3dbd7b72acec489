"""`remote_list.login` (SPEC 2.3, "Logging in for the token") against real Envoy
(--concurrency 2: three VMs, the main thread's and two workers') and two mocks: an
identity service that answers logins with short-lived tokens (Copyleaks' answer shape,
`access_token` and `.expires`), and a list API that accepts only a token that identity
service issued, has not revoked and has not seen expire.

Two Envoys start together at the beginning of the module, so their clocks run while the
first tests look:
- `good`: the right email and key; its tokens live LIFETIME seconds, so the module sees
  renewals, and one revocation by the API;
- `wrong`: a wrong key; its logins are refused, and the test counts them at the mock.

Every interval is short (refresh_seconds 10, the smallest; retry_seconds 1; tokens of
16 s, renewed with a quarter of their life left), so the module runs in about 45 s.
"""

from __future__ import annotations

import json
import time

import pytest

import harness
import mock_api
import mtls
import prometheus
from mtls import list_metric

EMAIL = "ops-login-e2e@example.com"
KEY = "5b0f6a8e-e2e0-4c1d-9a7b-key-3f9c2e"
WRONG_KEY = "5b0f6a8e-e2e0-4c1d-9a7b-WRONG-71d0"
CREDENTIALS = {"email": EMAIL, "key": KEY}
LIFETIME = 16
REFRESH = 10
LIST_PATH = "/v2/security/client-certificates"


def policy(route: str) -> dict:
    login = {"cluster": "copyleaks_id", "authority": mock_api.LOGIN_AUTHORITY, "path": mock_api.LOGIN_PATH,
             "body": {"email": {"env": "COPYLEAKS_EMAIL"}, "key": {"env": "COPYLEAKS_API_KEY"}},
             "timeout_ms": 500}
    rl = mtls.remote_list(LIST_PATH, refresh_seconds=REFRESH, retry_seconds=1, timeout_ms=500, login=login)
    return {"api": "v1", "routes": [{"name": route, "match": {"path_prefix": f"/hooks/{route}/"},
                                     "checks": {"client_cert": {"remote_list": rl}}}]}


class Lab:
    def __init__(self, tmp, factory):
        self.sender = mtls.self_signed(tmp, "sender", "Copyleaks Webhooks")
        self.stranger = mtls.self_signed(tmp, "stranger", "Copyleaks Webhooks")
        server = mtls.self_signed(tmp, "server", "webhooks.example.test")
        self.identity = mock_api.MockApi.start().identity(CREDENTIALS, LIFETIME)
        self.api = mock_api.MockApi.start()
        self.api.token_source = self.identity
        self.api.answer(LIST_PATH, list=[self.sender.sha1.upper()])
        self.wrong_identity = mock_api.MockApi.start().identity(CREDENTIALS, LIFETIME)
        self.wrong_api = mock_api.MockApi.start()
        self.wrong_api.token_source = self.wrong_identity
        self.wrong_api.answer(LIST_PATH, list=[self.sender.sha1.upper()])
        self.started = time.monotonic()
        self.good = mtls.start_tls_envoy(factory, policy("good"), {"COPYLEAKS_EMAIL": EMAIL, "COPYLEAKS_API_KEY": KEY},
                                         server, name="good", api=self.api, identity=self.identity)
        self.wrong = mtls.start_tls_envoy(factory, policy("wrong"),
                                          {"COPYLEAKS_EMAIL": EMAIL, "COPYLEAKS_API_KEY": WRONG_KEY},
                                          server, name="wrong", api=self.wrong_api, identity=self.wrong_identity)

    def stop(self):
        for m in (self.identity, self.api, self.wrong_identity, self.wrong_api):
            m.stop()


@pytest.fixture(scope="module")
def lab(envoy_factory, tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("pki"), envoy_factory)
    yield lab
    lab.stop()


def metric(envoy, route: str, name: str) -> int:
    return envoy.counter(list_metric(route, "client_cert", name))


def post(envoy, route: str, cert) -> harness.Response:
    return mtls.https(envoy.port, "POST", f"/hooks/{route}/completed/scan-1", [("Content-Type", "application/json")],
                      b'{"status":0}', cert=cert)


def logins(api: mock_api.MockApi) -> list[mock_api.Hit]:
    return [h for h in api.hits if h.method == "POST" and h.path == mock_api.LOGIN_PATH]


def test_the_list_is_fetched_with_the_token_the_identity_service_issued(lab, upstream):
    envoy = lab.good
    mtls.wait_for(lambda: metric(envoy, "good", "fetch_ok") >= 1, 5, "the first fetch")
    [first, *_] = logins(lab.identity)
    assert first.headers["host"] == mock_api.LOGIN_AUTHORITY
    assert first.headers["content-type"] == "application/json"
    assert json.loads(first.body) == CREDENTIALS
    token = lab.identity.tokens()[0].token
    [fetched, *_] = lab.api.hits_of(LIST_PATH)
    assert fetched.headers["authorization"] == f"Bearer {token}" and fetched.authorized
    assert fetched.at >= first.at
    assert metric(envoy, "good", "login_ok") >= 1
    assert metric(envoy, "good", "login_failed") == 0 and metric(envoy, "good", "fetch_failed") == 0
    left = mtls.gauge(envoy, list_metric("good", "client_cert", "token_remaining_seconds"))
    assert left is not None and 1 <= left <= LIFETIME, left
    # The stats tags of the examples label the new metrics like the list's others.
    scrape = prometheus.scrape(envoy)
    assert scrape.value("webhook_guard_list_login_ok", list="good.client_cert") >= 1
    assert scrape.value("webhook_guard_list_login_failed", list="good.client_cert") == 0
    assert 1 <= scrape.value("webhook_guard_list_token_remaining_seconds", list="good.client_cert") <= LIFETIME
    time.sleep(1.2)  # the other workers pick the list up from shared data
    resp = post(envoy, "good", lab.sender)
    assert resp.status == 200, resp
    assert upstream.requests()[-1].header_values("x-webhook-guard") == ["route=good"]
    assert post(envoy, "good", lab.stranger).status == 403


def test_the_token_is_renewed_before_it_expires_without_a_gap(lab, upstream):
    """Until two renewals have happened: a webhook every half second is forwarded, every
    fetch carries a token the API accepts, and each login comes before the last token
    expired but not long before (one login per renewal, whatever the worker count)."""
    envoy = lab.good
    deadline = time.monotonic() + 2 * LIFETIME + 6
    statuses = []
    while len(lab.identity.tokens()) < 3:
        assert time.monotonic() < deadline, f"no renewal: {len(lab.identity.tokens())} logins"
        statuses.append(post(envoy, "good", lab.sender).status)
        time.sleep(0.5)
    assert set(statuses) == {200}, statuses
    assert len(upstream.requests()) == len(statuses)
    issued = lab.identity.tokens()
    for before, after in zip(issued, issued[1:]):
        assert after.issued < before.expires, "renewed before the expiry"
        assert after.issued - before.issued >= LIFETIME * 0.6, "not renewed early or twice"
    hits = lab.api.hits_of(LIST_PATH)
    assert hits and all(h.authorized for h in hits), [h.authorized for h in hits]
    assert metric(envoy, "good", "fetch_failed") == 0
    assert metric(envoy, "good", "login_ok") == len(logins(lab.identity)) == len(issued)
    envoy.wait_log(r"remote list good\.client_cert logged in, token valid for 1[0-9]s")


def test_a_token_the_api_revokes_is_replaced(lab, upstream):
    envoy = lab.good
    # Just after a login, so the next fetch (within refresh_seconds) comes before the
    # next renewal: the fetch meets the revoked token.
    n = len(lab.identity.tokens())
    mtls.wait_for(lambda: len(lab.identity.tokens()) > n, LIFETIME, "a renewal")
    failed, ok = metric(envoy, "good", "fetch_failed"), metric(envoy, "good", "fetch_ok")
    n = len(lab.identity.tokens())
    lab.identity.revoke_all()
    revoked_at = time.monotonic()
    mtls.wait_for(lambda: metric(envoy, "good", "fetch_ok") > ok, REFRESH + 4, "a fetch with a new token")
    assert metric(envoy, "good", "fetch_failed") == failed + 1
    assert len(lab.identity.tokens()) == n + 1, "one login after the 401"
    after = [h for h in lab.api.hits_of(LIST_PATH) if h.at >= revoked_at]
    assert [h.authorized for h in after] == [False, True], [h.authorized for h in after]
    assert after[1].headers["authorization"] == f"Bearer {lab.identity.tokens()[-1].token}"
    envoy.wait_log(r"remote list good\.client_cert fetch failed: HTTP 401: the API refused the access token")
    # The list was kept throughout.
    resp = post(envoy, "good", lab.sender)
    assert resp.status == 200, resp


def test_a_wrong_key_never_fetches_the_list_and_logins_back_off(lab, upstream):
    envoy = lab.wrong
    elapsed = time.monotonic() - lab.started
    tried = logins(lab.wrong_identity)
    assert len(tried) >= 4, len(tried)
    assert all(json.loads(h.body) == {"email": EMAIL, "key": WRONG_KEY} for h in tried)
    assert lab.wrong_identity.tokens() == [] and lab.wrong_api.hits == [], "the list is never fetched"
    mtls.wait_for(lambda: metric(envoy, "wrong", "login_failed") == len(logins(lab.wrong_identity)), 3,
                  "login_failed = the logins the mock refused")
    assert metric(envoy, "wrong", "login_ok") == 0 and metric(envoy, "wrong", "fetch_ok") == 0
    # Backoff doubling from retry_seconds (1 s, jitter up to a quarter less) to
    # refresh_seconds, shared by the three VMs: no two logins close together, the
    # gaps grow, and the count stays far below 12 per 15 minutes.
    at = [h.at for h in tried]
    gaps = [b - a for a, b in zip(at, at[1:])]
    for i, gap in enumerate(gaps):
        assert gap >= 0.75 * min(2 ** i, REFRESH) - 0.1, gaps
    assert len(tried) <= 5 + elapsed / (REFRESH * 0.75), (len(tried), elapsed)
    assert len(tried) <= 12
    line = envoy.wait_log(r"remote list wrong\.client_cert login failed: HTTP 401: the login endpoint refused "
                          r"the credentials \(check remote_list\.login\.body\)")
    assert "warning" in line
    resp = post(envoy, "wrong", lab.sender)
    assert resp.status == 503 and resp.json() == {"error": "unavailable"}, resp
    upstream.assert_nothing_reached()


def test_neither_the_key_nor_a_token_is_logged(lab):
    tokens = [i.token for i in lab.identity.tokens()]
    assert tokens
    for envoy in (lab.good, lab.wrong):
        envoy.assert_no_secret_in_log(extra=[KEY, WRONG_KEY, EMAIL, *tokens])


def test_login_with_an_authorization_header_is_refused_naming_both_fields(envoy_factory):
    bad = policy("both")
    bad["routes"][0]["checks"]["client_cert"]["remote_list"]["headers"] = {"authorization": {"env": "COPYLEAKS_TOKEN"}}
    env = {"COPYLEAKS_EMAIL": EMAIL, "COPYLEAKS_API_KEY": KEY, "COPYLEAKS_TOKEN": "Bearer e2e-static-t0ken-9d"}
    failure = envoy_factory.start_failing(bad, env)
    assert failure.returncode != 0
    assert ("invalid configuration: routes[0].checks.client_cert.remote_list.login: cannot be used with "
            "routes[0].checks.client_cert.remote_list.headers.authorization") in failure.log
    for secret in env.values():
        assert secret not in failure.log
