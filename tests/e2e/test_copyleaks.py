"""envoy/copyleaks.yaml, loaded from the file and rewritten only where a test must:
ports, the plugin path, the TLS server certificate, the allowlist (127.0.0.1 instead of
the documentation placeholders), the app cluster (the recording upstream), and the
endpoints and CA of the copyleaks_api and copyleaks_id clusters (mocks of the Copyleaks
API and of its identity service over TLS, with certificates for api.copyleaks.com and
id.copyleaks.com issued by a test CA; the API accepts only the tokens the identity
service issued). The secrets reach Envoy the way the file says: through Envoy's own
environment (host_env_keys).

Everything else (the listener's TLS settings, the filter settings, the policy, the
cluster's SNI and SAN check) is the file as shipped."""

from __future__ import annotations

import json
import time

import pytest
import yaml

import harness
import mock_api
import mtls
import prometheus

COPYLEAKS_YAML = harness.REPO / "envoy" / "copyleaks.yaml"
FILE = yaml.safe_load(COPYLEAKS_YAML.read_text())
PLUGIN = harness.wasm_plugin_config(FILE)
POLICY = json.loads(PLUGIN["configuration"]["value"])
ROUTE = POLICY["routes"][0]

EMAIL = "e2e-copyleaks@example.com"
API_KEY = "e2e-copyleaks-api-key-1b9c77e0d4"
DEVELOPER_PAYLOAD = "e2e-developer-payload-88a3f5c2e1"
WAF_TOKEN = "e2e-waf-token-3d0e6b1a7f"
ENV = {"COPYLEAKS_EMAIL": EMAIL, "COPYLEAKS_API_KEY": API_KEY, "COPYLEAKS_DEVELOPER_PAYLOAD": DEVELOPER_PAYLOAD,
       "COPYLEAKS_WAF_TOKEN": WAF_TOKEN}
WAF_HEADER = ROUTE["checks"]["headers"][0]["name"]
LIST = "webhook_guard.list.copyleaks.client_cert"


def clusters(cfg: dict) -> dict[str, dict]:
    return {c["name"]: c for c in cfg["static_resources"]["clusters"]}


def downstream_tls(cfg: dict) -> dict:
    return cfg["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"]["typed_config"]


# --------------------------------------------------------------------------------------
# The file itself.


def test_the_file_has_the_settings_the_copyleaks_measures_need():
    tls = downstream_tls(FILE)
    assert tls["require_client_certificate"] is True
    assert tls["common_tls_context"]["validation_context"] == {"trust_chain_verification": "ACCEPT_UNTRUSTED"}
    hcm = harness.hcm(FILE)
    assert hcm["use_remote_address"] is True and hcm["xff_num_trusted_hops"] == 0
    assert hcm["normalize_path"] is True and hcm["merge_slashes"] is True
    names = [f["name"] for f in hcm["http_filters"]]
    assert names.index("webhook_guard") < names.index("envoy.filters.http.router")
    assert PLUGIN["allow_on_headers_stop_iteration"] is True and PLUGIN["fail_open"] is False
    # No secret value in the file: every one comes from Envoy's environment.
    env_cfg = PLUGIN["vm_config"]["environment_variables"]
    assert set(env_cfg) == {"host_env_keys"}
    assert sorted(env_cfg["host_env_keys"]) == sorted(ENV)
    text = COPYLEAKS_YAML.read_text()
    for v in ENV.values():
        assert v not in text
    # One route, every Copyleaks measure.
    assert POLICY["unmatched"] == "deny" and POLICY.get("mode", "enforce") == "enforce"
    assert [r["name"] for r in POLICY["routes"]] == ["copyleaks"]
    checks = ROUTE["checks"]
    assert set(checks) == {"client_cert", "developer_payload", "headers", "ip_allowlist"}
    rl = checks["client_cert"]["remote_list"]
    assert (rl["cluster"], rl["authority"], rl["path"]) == ("copyleaks_api", "api.copyleaks.com",
                                                            "/v2/security/client-certificates")
    # No token from the operator: the filter logs in with the email and API key.
    assert "headers" not in rl
    assert rl["login"] == {"cluster": "copyleaks_id", "authority": "id.copyleaks.com", "path": "/v3/account/login/api",
                           "body": {"email": {"env": "COPYLEAKS_EMAIL"}, "key": {"env": "COPYLEAKS_API_KEY"}},
                           "timeout_ms": 5000}
    assert rl["refresh_seconds"] == 86400
    assert checks["developer_payload"]["secrets"] == [{"id": "payload_current", "env": "COPYLEAKS_DEVELOPER_PAYLOAD"}]
    assert checks["headers"][0]["secrets"] == [{"id": "waf_current", "env": "COPYLEAKS_WAF_TOKEN"}]
    assert checks["headers"][0]["strip"] is True
    # The allowlist ships with documentation ranges only (RFC 5737 / RFC 3849), to be replaced.
    assert checks["ip_allowlist"]["cidrs"] == ["192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"]
    assert "REPLACE" in text
    # The API and identity service clusters: TLS to api.copyleaks.com and id.copyleaks.com,
    # verified against the system CA bundle, the name checked.
    for name, host in (("copyleaks_api", "api.copyleaks.com"), ("copyleaks_id", "id.copyleaks.com")):
        cluster = clusters(FILE)[name]
        assert cluster["type"] == "LOGICAL_DNS", name
        [ep] = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
        assert ep["endpoint"]["address"]["socket_address"] == {"address": host, "port_value": 443}
        tls = cluster["transport_socket"]["typed_config"]
        assert tls["@type"].endswith("UpstreamTlsContext") and tls["sni"] == host
        vc = tls["common_tls_context"]["validation_context"]
        assert vc["trusted_ca"]["filename"] == "/etc/ssl/certs/ca-certificates.crt"
        assert vc["match_typed_subject_alt_names"] == [{"san_type": "DNS", "matcher": {"exact": host}}]


# --------------------------------------------------------------------------------------
# The file in a running Envoy.


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    api_ca = mtls.self_signed(d, "api-ca", "Test Public CA", ca=True)
    return {
        "server": mtls.self_signed(d, "webhooks", "webhooks.example.test", san_dns=["webhooks.example.test"]),
        "copyleaks": mtls.self_signed(d, "copyleaks-sender", "Copyleaks Webhooks"),
        "stranger": mtls.self_signed(d, "stranger", "Copyleaks Webhooks"),
        "api_ca": api_ca,
        "api": mtls.signed_by(api_ca, d, "api", "api.copyleaks.com", san_dns=["api.copyleaks.com"]),
        "id": mtls.signed_by(api_ca, d, "id", "id.copyleaks.com", san_dns=["id.copyleaks.com"]),
        "impostor_api": mtls.signed_by(api_ca, d, "impostor-api", "api.copyleaks.com.evil.test",
                                       san_dns=["api.copyleaks.com.evil.test"]),
    }


def config_for_test(upstream_port: int, pki: dict, api: mock_api.MockApi, identity: mock_api.MockApi) -> dict:
    cfg = harness.for_test(FILE, upstream_port)  # ports, plugin path, every cluster -> the upstream
    tls = downstream_tls(cfg)
    [pair] = tls["common_tls_context"]["tls_certificates"]
    pair["certificate_chain"]["filename"] = str(pki["server"].cert)
    pair["private_key"]["filename"] = str(pki["server"].key)
    policy = json.loads(harness.wasm_plugin_config(cfg)["configuration"]["value"])
    policy["routes"][0]["checks"]["ip_allowlist"]["cidrs"] = ["127.0.0.1/32"]
    harness.wasm_plugin_config(cfg)["configuration"]["value"] = json.dumps(policy)
    for name, mock in (("copyleaks_api", api), ("copyleaks_id", identity)):
        cluster = clusters(cfg)[name]
        sa = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
        sa.update(address="127.0.0.1", port_value=mock.port)
        vc = cluster["transport_socket"]["typed_config"]["common_tls_context"]["validation_context"]
        vc["trusted_ca"]["filename"] = str(pki["api_ca"].cert)
    return cfg


def start(envoy_factory, pki, api, identity, name: str) -> harness.Envoy:
    harness.require_wasm()
    cfg = config_for_test(envoy_factory.upstream.port, pki, api, identity)
    with harness.environment(ENV):
        return envoy_factory.start_config(cfg, name=name, secrets=list(ENV.values()))


def published(pki) -> list:
    # As a .NET service would print them: upper-case SHA-1 without separators. Another
    # sender's certificate is listed too.
    other = mtls.self_signed(pki["server"].cert.parent, "other-copyleaks-sender", "Copyleaks Webhooks 2")
    return [pki["copyleaks"].sha1.upper(), other.sha1.upper()]


@pytest.fixture(scope="module")
def identity(pki):
    ident = mock_api.MockApi.start(server_cert=pki["id"]).identity({"email": EMAIL, "key": API_KEY}, 48 * 3600)
    yield ident
    ident.stop()


@pytest.fixture(scope="module")
def api(pki, identity):
    api = mock_api.MockApi.start(server_cert=pki["api"])
    api.token_source = identity
    api.answer(list=published(pki))
    yield api
    api.stop()


@pytest.fixture(scope="module")
def copyleaks(envoy_factory, pki, api, identity):
    envoy = start(envoy_factory, pki, api, identity, "copyleaks")
    mtls.wait_for(lambda: envoy.counter(LIST + ".fetch_ok") >= 1, timeout=5, what="the thumbprint list")
    # The worker that fetched has the list at once; the others re-read shared data at
    # most once a second (until then they answer 503 + Retry-After).
    time.sleep(1.2)
    return envoy


SCAN = "a1b2c3d4e5f6"
PATH = f"/webhooks/copyleaks/completed/{SCAN}"


def webhook(envoy, pki, *, cert="copyleaks", payload=DEVELOPER_PAYLOAD, waf: list[str] | None = None,
            source: str | None = None, path: str = PATH, method: str = "POST", body: bytes | None = None):
    if body is None:
        body = mtls.body_of(mtls.completed_webhook(SCAN, payload))
    headers = [("Content-Type", "application/json")]
    headers += [(WAF_HEADER, v) for v in ([WAF_TOKEN] if waf is None else waf)]
    resp = mtls.https(envoy.port, method, path, headers, body, cert=pki[cert] if cert else None, source=source)
    return resp, body


def test_the_list_is_fetched_over_verified_tls_with_the_token(copyleaks, api, identity):
    # The filter logged in first, over TLS verified for id.copyleaks.com, with the key.
    [login] = [h for h in identity.hits if h.method == "POST"]
    assert login.sni == "id.copyleaks.com" and login.headers["host"] == "id.copyleaks.com"
    assert json.loads(login.body) == {"email": EMAIL, "key": API_KEY}
    [token] = identity.tokens()
    [first, *_] = api.hits_of()
    assert first.sni == "api.copyleaks.com"
    assert first.headers["host"] == "api.copyleaks.com"
    assert first.headers["authorization"] == f"Bearer {token.token}" and first.authorized
    assert copyleaks.counter(LIST + ".fetch_failed") == 0
    assert copyleaks.counter(LIST + ".login_ok") == 1 and copyleaks.counter(LIST + ".login_failed") == 0
    assert 48 * 3600 - 60 <= mtls.gauge(copyleaks, LIST + ".token_remaining_seconds") <= 48 * 3600
    assert mtls.gauge(copyleaks, LIST + ".entries") == 2
    # The same, as Prometheus sees it with the file's stats tags.
    scrape = prometheus.scrape(copyleaks)
    assert scrape.value("webhook_guard_list_entries", list="copyleaks.client_cert") == 2
    assert scrape.value("webhook_guard_list_fetch_failed", list="copyleaks.client_cert") == 0
    assert scrape.value("webhook_guard_list_fetch_ok", list="copyleaks.client_cert") >= 1


def test_genuine_copyleaks_webhook_reaches_the_app_without_the_waf_header(copyleaks, upstream, pki):
    counters = ["webhook_guard.copyleaks.allowed", "webhook_guard.copyleaks.secret.waf_current.matched",
                "webhook_guard.copyleaks.secret.payload_current.matched"]
    before = {c: copyleaks.counter(c) for c in counters}
    resp, body = webhook(copyleaks, pki)
    assert resp.status == 200, resp
    [rec] = upstream.requests()
    assert rec.method == "POST" and rec.path == PATH
    assert rec.body == body
    assert rec.header_values("x-webhook-guard") == ["route=copyleaks"]
    assert rec.header_values(WAF_HEADER) == [], "the WAF secret must not reach the app"
    assert WAF_TOKEN not in json.dumps(rec.headers)
    # The client address the app is told is the TCP peer.
    assert rec.header("x-envoy-external-address") == "127.0.0.1"
    for c in counters:
        assert copyleaks.wait_counter(c, before[c] + 1) == before[c] + 1, c


# Each single failure, everything else right: (what differs, status, reason).
FAILURES = {
    "unpinned_certificate": (dict(cert="stranger"), 403, "cert_not_pinned"),
    "no_client_certificate": (dict(cert=None), 403, "cert_missing"),
    "address_not_allowed": (dict(source="127.0.0.2"), 403, "ip_not_allowed"),
    "waf_header_missing": (dict(waf=[]), 401, "header_missing"),
    "waf_header_wrong": (dict(waf=["e2e-waf-token-WRONG"]), 401, "header_mismatch"),
    "waf_header_repeated": (dict(waf=[WAF_TOKEN, "other"]), 401, "header_repeated"),
    "developer_payload_wrong": (dict(payload="e2e-developer-payload-WRONG"), 401, "payload_mismatch"),
    "developer_payload_missing": (dict(body=mtls.body_of(mtls.completed_webhook(SCAN, include_payload=False))),
                                  401, "payload_missing"),
    "developer_payload_twice": (dict(body=('{"developerPayload":"%s","developerPayload":"x"}'
                                           % DEVELOPER_PAYLOAD).encode()), 401, "payload_duplicate_key"),
    "not_json": (dict(body=b"developerPayload=" + DEVELOPER_PAYLOAD.encode()), 401, "payload_not_json"),
    "other_path": (dict(path="/webhooks/copyleaksx/completed/1"), 404, "route_not_found"),
    "wrong_method": (dict(method="PUT"), 405, "method_not_allowed"),
}
BODIES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}


@pytest.mark.parametrize("case", list(FAILURES))
def test_each_single_failure_is_refused_and_the_app_sees_nothing(copyleaks, upstream, pki, case):
    if case == "address_not_allowed" and not mtls.free_loopback("127.0.0.2"):
        pytest.skip("cannot bind a client socket to 127.0.0.2 here")
    change, status, reason = FAILURES[case]
    metric_route = "unmatched" if status in (404, 405) else "copyleaks"
    metric = f"webhook_guard.{metric_route}.denied.{reason}"
    before = copyleaks.counter(metric)
    resp, _ = webhook(copyleaks, pki, **change)
    assert resp.status == status, resp
    assert resp.json() == {"error": BODIES[status]}
    if status == 405:
        assert resp.header("allow") == "POST"
    upstream.assert_nothing_reached()
    assert copyleaks.wait_counter(metric, before + 1) == before + 1


def test_log_names_the_reason_but_holds_no_secret(copyleaks, identity):
    line = copyleaks.wait_log(r"denied route=copyleaks reason=header_mismatch")
    assert "client=127.0.0.1" in line
    # Envoy's JSON access log line of that request says the same.
    request_id = line.split("request_id=")[1].split()[0]
    entry = harness.wait_until(
        lambda: next((e for e in map(json.loads, filter(lambda l: l.startswith("{"), copyleaks.log().splitlines()))
                      if e["request_id"] == request_id), None), 10, what="the access log line")
    assert (entry["route"], entry["outcome"], entry["reason"], entry["status"]) == (
        "copyleaks", "denied", "header_mismatch", 401)
    copyleaks.assert_no_secret_in_log(extra=[t.token for t in identity.tokens()])


@pytest.fixture(scope="module")
def impostor_api(pki):
    api = mock_api.MockApi.start(server_cert=pki["impostor_api"])
    api.answer(list=[pki["stranger"].sha1.upper()])
    yield api
    api.stop()


def test_an_api_server_without_an_api_copyleaks_com_certificate_is_not_believed(envoy_factory, upstream, pki,
                                                                             impostor_api, identity):
    """The cluster checks the server's name: a server with a certificate from a trusted
    CA but for another name cannot hand out thumbprints. Nothing is loaded, the list
    stays unavailable: webhooks get 503, and the token was never sent."""
    envoy = start(envoy_factory, pki, impostor_api, identity, "impostor")
    mtls.wait_for(lambda: envoy.counter(LIST + ".fetch_failed") >= 1, timeout=5, what="a failed fetch")
    assert envoy.counter(LIST + ".fetch_ok") == 0
    assert impostor_api.hits_of() == [], "no HTTP request may reach a server that failed verification"
    resp, _ = webhook(envoy, pki, cert="stranger")
    assert resp.status == 503 and resp.json() == {"error": "unavailable"}, resp
    assert resp.header("retry-after")
    upstream.assert_nothing_reached()
    envoy.wait_log(r"remote list copyleaks\.client_cert fetch failed")
    envoy.assert_no_secret_in_log(extra=[t.token for t in identity.tokens()])


# SPEC 2.3: 503 only before the first good fetch. The VM that fetches (often the main
# thread's, which serves no request) publishes the list in shared data; a worker with no
# list yet must pick it up on its next request, not a second later.
def test_a_webhook_right_after_the_first_good_fetch_is_accepted(envoy_factory, upstream, pki, api, identity):
    envoy = start(envoy_factory, pki, api, identity, "first-fetch")
    harness.wait_until(lambda: envoy.counter(LIST + ".fetch_ok") >= 1, 5, interval=0.02, what="the first fetch")
    statuses = [webhook(envoy, pki)[0].status for _ in range(5)]
    assert statuses == [200] * 5, statuses
    assert len(upstream.requests()) == 5
