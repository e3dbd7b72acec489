"""docker-compose.yml for real: the stack a user starts with `docker compose up`, brought
up on free ports (`make compose-test`, and `make test` whenever `docker info` answers), and
the suite's checks run against it from the host, as a sender would reach it:

- the demo stack: the demo app with Envoy as its sidecar, running deploy/compose/envoy.yaml
  (envoy/envoy.yaml with container addresses): signed webhooks of each scheme reach the
  app, refusals reach nothing, the app cannot be reached around Envoy, metrics on the
  admin port, and demo/send-webhook.sh as the quickstart runs it; each of these through
  both editions: the Wasm plugin, and the native module in the image `make image-native`
  builds (profile native, deploy/compose/native.yaml from envoy/native.yaml);
- the Copyleaks example (profile copyleaks): the TLS listener with client certificates,
  the thumbprint list fetched over verified TLS from the mock API, all four measures;
- a stack running a config with every header and body check (jwt, secret header,
  ip_allowlist both ways, rate_limit, a signature scheme, developer_payload), for each
  edition;
- a configuration the filter refuses: Envoy exits and nothing is served, for each edition.

Where no registry answers, the images are built here (images/local.sh) and passed in
through ENVOY_IMAGE and APP_IMAGE; the run says which. Without a Docker Engine the stack
tests are skipped (`make test` says so in one line), unless REQUIRE_DOCKER=1 (CI) makes
that an error. The static checks of the compose file run everywhere.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

import compose_stack
import denials
import harness
import mtls
import prometheus
import signing

COMPOSE = yaml.safe_load(compose_stack.COMPOSE_FILE.read_text())
SERVICES = COMPOSE["services"]
DEMO = harness.load_demo_config()
DEMO_ENV = harness.demo_env(DEMO)
DEMO_POLICY = harness.demo_policy(DEMO)


# --------------------------------------------------------------------------------------
# The compose file itself (no Docker needed).


def mounts(service: dict) -> dict[str, str]:
    """container path -> host path, with ${VAR:-default} resolved to the default."""
    out = {}
    for v in service.get("volumes", []):
        v = re.sub(r"\$\{[A-Z_]+:-([^}]+)\}", r"\1", v)
        host, container = v.split(":")[:2]
        out[container] = host
    return out


def test_no_service_uses_the_hosts_network_and_each_envoy_is_its_apps_sidecar():
    for name, service in SERVICES.items():
        assert service.get("network_mode", "") != "host", name
    assert SERVICES["envoy"]["network_mode"] == "service:app"
    assert SERVICES["native-envoy"]["network_mode"] == "service:native-app"
    assert SERVICES["copyleaks-envoy"]["network_mode"] == "service:copyleaks-app"
    # The app listens on the pod's loopback only: nothing reaches it around its sidecar.
    for app in ("app", "native-app", "copyleaks-app"):
        cmd = SERVICES[app]["command"]
        assert cmd[cmd.index("--host") + 1] == "127.0.0.1"


def test_default_images_are_the_official_ones_and_envoy_matches_the_envoy_the_tests_run():
    out = subprocess.run([str(harness.ENVOY_BIN), "--version"], capture_output=True, text=True, check=True).stdout
    major_minor = re.search(r"/(\d+\.\d+)\.\d+/", out).group(1)
    images = compose_stack.default_images()
    assert images["ENVOY_IMAGE"] == f"envoyproxy/envoy:v{major_minor}-latest"
    assert images["APP_IMAGE"].startswith("python:3")
    for name in ("envoy", "copyleaks-envoy"):
        assert SERVICES[name]["image"] == "${ENVOY_IMAGE:-%s}" % images["ENVOY_IMAGE"]


def test_the_native_envoy_runs_the_image_make_image_native_tags():
    makefile = (harness.REPO / "Makefile").read_text()
    tag = re.search(r"^NATIVE_IMAGE \?= (\S+)$", makefile, re.M).group(1)
    assert SERVICES["native-envoy"]["image"] == "${NATIVE_IMAGE:-%s}" % tag
    # The image's default base is the official image of the Envoy the tests run.
    dockerfile = (harness.REPO / "images/native.Dockerfile").read_text()
    base = re.search(r"^ARG ENVOY_IMAGE=(\S+)$", dockerfile, re.M).group(1)
    assert base == compose_stack.default_images()["ENVOY_IMAGE"]


def test_the_mounted_configs_are_rendered_from_the_tested_ones_in_envoy():
    out = subprocess.run([str(harness.REPO / "deploy/compose/render.py"), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert mounts(SERVICES["envoy"])["/etc/envoy/envoy.yaml"] == "./deploy/compose/envoy.yaml"
    assert mounts(SERVICES["copyleaks-envoy"])["/etc/envoy/envoy.yaml"] == "./deploy/compose/copyleaks.yaml"
    assert mounts(SERVICES["native-envoy"])["/etc/envoy/envoy.yaml"] == "./deploy/compose/native.yaml"


def test_the_native_demo_runs_the_wasm_demos_policy_with_its_secrets_from_envoys_environment():
    native = yaml.safe_load((harness.REPO / "deploy/compose/native.yaml").read_text())
    [module] = [f["typed_config"] for f in harness.hcm(native)["http_filters"]
                if f["typed_config"]["@type"].endswith("DynamicModuleFilter")]
    assert json.loads(module["filter_config"]["value"]) == DEMO_POLICY
    env_file = re.sub(r"\$\{[A-Z_]+:-([^}]+)\}", r"\1", SERVICES["native-envoy"]["env_file"])
    assert env_file == "./deploy/compose/native.env"
    lines = (harness.REPO / env_file).read_text().splitlines()
    assert dict(line.split("=", 1) for line in lines if line and not line.startswith("#")) == DEMO_ENV


def test_envoy_mounts_the_plugin_where_the_config_expects_it():
    envoy = SERVICES["envoy"]
    cfg = yaml.safe_load((harness.REPO / "deploy/compose/envoy.yaml").read_text())
    wasm_rel = harness.wasm_plugin_config(cfg)["vm_config"]["code"]["local"]["filename"]
    assert mounts(envoy)[str(Path(envoy["working_dir"]) / wasm_rel)] == "./target/webhook_guard.wasm"
    cl = yaml.safe_load((harness.REPO / "deploy/compose/copyleaks.yaml").read_text())
    wasm_abs = harness.wasm_plugin_config(cl)["vm_config"]["code"]["local"]["filename"]
    assert mounts(SERVICES["copyleaks-envoy"])[wasm_abs] == "./target/webhook_guard.wasm"


# --------------------------------------------------------------------------------------
# Running stacks.

EMAIL = "compose-e2e@example.com"
API_KEY = "compose-e2e-copyleaks-api-key-5a1f"
DEVELOPER_PAYLOAD = "compose-e2e-developer-payload-77c3"
WAF_TOKEN = "compose-e2e-waf-token-19be"
WAF_HEADER = "x-copyleaks-waf-token"


@pytest.fixture(scope="session")
def images(request):
    compose_stack.require_docker()
    if compose_stack.compose_command() is None:
        pytest.fail("Docker answers but neither `docker compose` nor `docker-compose` is installed", pytrace=False)
    harness.require_wasm()
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:  # past pytest's capture: the run says which images it used
        with capture.global_and_fixture_disabled():
            print("\n" + line, flush=True)

    return compose_stack.resolve_images(say)


def base_env(images: dict) -> dict[str, str]:
    return {**images, "WEBHOOK_GUARD_WASM": str(harness.WASM)}


@pytest.fixture(scope="session")
def native_image(images, request):
    """The image `make image-native` builds, FROM the Envoy image the stack runs."""
    compose_stack.require_native()
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:
        with capture.global_and_fixture_disabled():
            print("\n" + line, flush=True)

    return compose_stack.native_image(images["ENVOY_IMAGE"], say)


@pytest.fixture(scope="module")
def tls_dir():
    d = harness.WORK / "compose" / "tls"
    subprocess.run([str(harness.REPO / "deploy/compose/tls.sh"), str(d)], check=True, timeout=60)
    return d


def running(stack: compose_stack.Stack):
    """A module fixture's body: `stack` up for the module's tests, down after them
    (also when they fail)."""
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


def stack_envoy(stack: compose_stack.Stack, policy, env, edition: str = "wasm") -> compose_stack.StackEnvoy:
    """The stack's Envoy of `edition` (service `envoy` in front of `app`, or
    `native-envoy` in front of `native-app`), once it answers; the log must never hold a
    secret of `policy`."""
    app, service = compose_stack.PODS[edition]
    envoy = compose_stack.StackEnvoy(stack, service, app, 10000, secrets=harness.collect_secrets(policy, env))
    envoy.app_service = app
    return envoy.wait_ready()


def fresh_app(stack: compose_stack.Stack, service: str = "app") -> compose_stack.StackUpstream:
    """The stack's recording upstream, its record emptied for one test."""
    up = compose_stack.StackUpstream(stack, service)
    up.reset()
    return up


@pytest.fixture(scope="module")
def demo(images, native_image, tls_dir):
    """The stack of `docker compose --profile copyleaks --profile native up`, on free ports."""
    env = {**base_env(images), "NATIVE_IMAGE": native_image, "COPYLEAKS_TLS": str(tls_dir),
           "COPYLEAKS_EMAIL": EMAIL, "COPYLEAKS_API_KEY": API_KEY,
           "COPYLEAKS_DEVELOPER_PAYLOAD": DEVELOPER_PAYLOAD, "COPYLEAKS_WAF_TOKEN": WAF_TOKEN}
    yield from running(compose_stack.Stack("demo", env, profiles=["copyleaks", "native"]))


@pytest.fixture(scope="module", params=list(compose_stack.PODS))
def envoy(demo, request):
    """The demo's sidecar of each edition: the Wasm plugin, and the native module."""
    return stack_envoy(demo, DEMO_POLICY, DEMO_ENV, request.param)


@pytest.fixture
def app(demo, envoy):
    return fresh_app(demo, envoy.app_service)


def test_signed_webhooks_of_each_demo_scheme_reach_the_app(envoy, app):
    body = b'{"event":"compose","n":1}'
    sent = {
        "github": signing.github(DEMO_ENV["GITHUB_WEBHOOK_SECRET"], body),
        "stripe": signing.stripe(DEMO_ENV["STRIPE_WEBHOOK_SECRET"], body),
        "standard": signing.standard(DEMO_ENV["STANDARD_WEBHOOK_SECRET"], body),
    }
    for scheme, headers in sent.items():
        resp = harness.http1(envoy.port, "POST", f"/webhooks/{scheme}", [("Content-Type", "application/json"), *headers],
                             body)
        assert resp.status == 200, (scheme, resp)
    recorded = app.requests()
    assert [r.path for r in recorded] == [f"/webhooks/{s}" for s in sent]
    for rec, (scheme, headers) in zip(recorded, sent.items()):
        assert rec.body == body
        assert rec.header_values("x-webhook-guard") == [f"route={scheme}"]
        for k, v in headers:
            assert rec.header(k) == v


def test_unsigned_tampered_and_unknown_requests_never_reach_the_app(envoy, app):
    body = b'{"event":"compose"}'
    sig = signing.github(DEMO_ENV["GITHUB_WEBHOOK_SECRET"], body)
    cases = [
        ("/webhooks/github", [], body, 401, "unauthorized"),
        ("/webhooks/github", sig, body + b" ", 401, "unauthorized"),
        ("/webhooks/Github/../github", [], body, 401, "unauthorized"),
        ("/admin", [], body, 404, "not_found"),
    ]
    for path, headers, sent, status, error in cases:
        resp = harness.http1(envoy.port, "POST", path, headers, sent)
        assert (resp.status, resp.json()) == (status, {"error": error}), path
    resp = harness.http1_declared_only(envoy.port, "/webhooks/github", [], DEMO_POLICY["max_body_bytes"] + 1, b"{")
    assert (resp.status, resp.json()) == (413, {"error": "payload_too_large"})
    app.assert_nothing_reached()


def test_http2_webhook_reaches_the_app(envoy, app):
    body = b'{"event":"compose-h2"}'
    resp = harness.http2(envoy.port, "POST", "/webhooks/github",
                         signing.github(DEMO_ENV["GITHUB_WEBHOOK_SECRET"], body), body)
    assert resp.status == 200, resp
    [rec] = app.requests()
    assert rec.body == body and rec.header("x-webhook-guard") == "route=github"


def test_the_app_cannot_be_reached_around_its_sidecar(demo, envoy):
    """The app's port is open only on the pod's loopback: from the compose network the
    pod answers on Envoy's port and refuses the app's."""
    ip = next(iter(demo.inspect(envoy.app_service)["NetworkSettings"]["Networks"].values()))["IPAddress"]
    with socket.create_connection((ip, 10000), timeout=5):
        pass
    with pytest.raises(OSError):
        socket.create_connection((ip, 8080), timeout=5).close()


def test_metrics_on_the_admin_port(envoy):
    body = b"{}"
    missing = envoy.counter("webhook_guard.github.denied.signature_missing")
    harness.http1(envoy.port, "POST", "/webhooks/stripe", signing.stripe(DEMO_ENV["STRIPE_WEBHOOK_SECRET"], body), body)
    harness.http1(envoy.port, "POST", "/webhooks/github", [], body)
    assert envoy.wait_counter("webhook_guard.stripe.allowed", 1) >= 1
    assert envoy.wait_counter("webhook_guard.github.denied.signature_missing", missing + 1) == missing + 1
    # As Prometheus sees them: one metric per measure, the route as a label.
    scrape = prometheus.scrape(envoy)
    assert scrape.value("webhook_guard_allowed", route="stripe") >= 1, scrape.series("webhook_guard_allowed")
    assert scrape.value("webhook_guard_denied", route="github", reason="signature_missing") >= 1


@pytest.mark.parametrize("scheme", ["github", "stripe", "standard"])
def test_quickstart_send_webhook_script(envoy, app, scheme):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_WEBHOOK_SECRET")}
    env["URL"] = f"http://127.0.0.1:{envoy.port}"
    out = subprocess.run(["bash", str(harness.REPO / "demo/send-webhook.sh"), scheme], capture_output=True,
                         text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == "200", out.stdout
    [rec] = app.requests()
    assert rec.header("x-webhook-guard") == f"route={scheme}"
    assert json.loads(rec.body)["event"] == "demo"


def test_demo_log_holds_no_secret(envoy):
    envoy.assert_no_secret_in_log()


# -- the Copyleaks example -------------------------------------------------------------

LIST = "webhook_guard.list.copyleaks.client_cert"
SCAN = "c0mp05e5ca9"
PATH = f"/webhooks/copyleaks/completed/{SCAN}"


@pytest.fixture(scope="module")
def copyleaks(demo):
    envoy = compose_stack.StackEnvoy(demo, "copyleaks-envoy", "copyleaks-app", 8443,
                                     secrets=[EMAIL, API_KEY, DEVELOPER_PAYLOAD, WAF_TOKEN]).wait_ready()
    mtls.wait_for(lambda: envoy.counter(LIST + ".fetch_ok") >= 1, timeout=30, what="the thumbprint list")
    # Workers that did not fetch pick the list up from shared data on their next request.
    return envoy


@pytest.fixture
def copyleaks_app(demo):
    up = compose_stack.StackUpstream(demo, "copyleaks-app")
    up.reset()
    return up


@pytest.fixture(scope="module")
def certs(tls_dir):
    sender = mtls.Cert("sender", tls_dir / "sender.crt", tls_dir / "sender.key", mtls._der(tls_dir / "sender.crt"))
    stranger = mtls.self_signed(harness.WORK / "compose" / "stranger", "stranger", "Not Copyleaks")
    return {"sender": sender, "stranger": stranger}


def copyleaks_webhook(envoy, certs, *, cert="sender", payload=DEVELOPER_PAYLOAD, waf=WAF_TOKEN):
    body = mtls.body_of(mtls.completed_webhook(SCAN, payload))
    headers = [("Content-Type", "application/json")] + ([(WAF_HEADER, waf)] if waf else [])
    return mtls.https(envoy.port, "POST", PATH, headers, body, cert=certs[cert] if cert else None), body


def test_the_thumbprint_list_is_fetched_from_the_api_over_verified_tls_with_the_token(copyleaks, demo, tls_dir):
    status, body = harness._http("GET", f"http://127.0.0.1:{demo.port('copyleaks-api', 8082)}/hits")
    # The filter logged in first (over TLS verified for id.copyleaks.com), with the key.
    logins = [h for h in json.loads(body) if h["path"] == "/v3/account/login/api"]
    assert logins and all(h["method"] == "POST" and h["authorized"] for h in logins), body
    assert logins[0]["host"] == "id.copyleaks.com" and logins[0]["sni"] == "id.copyleaks.com"
    assert copyleaks.counter(LIST + ".login_ok") >= 1 and copyleaks.counter(LIST + ".login_failed") == 0
    hits = [h for h in json.loads(body) if h["path"] == mtls.COPYLEAKS_PATH]
    assert hits, body
    assert all(h["host"] == "api.copyleaks.com" and h["authorized"] for h in hits), hits
    assert hits[0]["sni"] == "api.copyleaks.com"  # the cluster verifies that name
    published = json.loads((tls_dir / "client-certificates.json").read_text())
    assert mtls.gauge(copyleaks, LIST + ".entries") == len(published)
    assert copyleaks.counter(LIST + ".fetch_failed") == 0


def test_genuine_copyleaks_webhook_reaches_the_app_without_the_waf_header(copyleaks, copyleaks_app, certs):
    def answered():
        resp, body = copyleaks_webhook(copyleaks, certs)
        return None if resp.status == 503 else (resp, body)

    # A worker that did not fetch reads the list from shared data on its next request.
    resp, body = harness.wait_until(answered, 5, interval=0.2, what="the list in every worker")
    assert resp.status == 200, resp
    [rec] = copyleaks_app.requests()
    assert rec.path == PATH and rec.body == body
    assert rec.header_values("x-webhook-guard") == ["route=copyleaks"]
    assert rec.header_values(WAF_HEADER) == []
    assert copyleaks.wait_counter("webhook_guard.copyleaks.allowed", 1) >= 1


@pytest.mark.parametrize("change,status,reason", [
    (dict(cert="stranger"), 403, "cert_not_pinned"),
    (dict(cert=None), 403, "cert_missing"),
    (dict(waf=None), 401, "header_missing"),
    (dict(waf="compose-e2e-waf-token-WRONG"), 401, "header_mismatch"),
    (dict(payload="compose-e2e-developer-payload-WRONG"), 401, "payload_mismatch"),
], ids=["unpinned_cert", "no_cert", "no_waf_header", "wrong_waf_header", "wrong_payload"])
def test_each_copyleaks_failure_is_refused_and_the_app_sees_nothing(copyleaks, copyleaks_app, certs, change, status,
                                                                   reason):
    metric = f"webhook_guard.copyleaks.denied.{reason}"
    before = copyleaks.counter(metric)
    resp, _ = copyleaks_webhook(copyleaks, certs, **change)
    assert resp.status == status, resp
    copyleaks_app.assert_nothing_reached()
    assert copyleaks.wait_counter(metric, before + 1) == before + 1


def test_copyleaks_log_names_reasons_and_holds_no_secret(copyleaks, copyleaks_app, certs):
    assert copyleaks_webhook(copyleaks, certs, cert="stranger")[0].status == 403
    copyleaks.wait_log(r"denied route=copyleaks reason=cert_not_pinned", timeout=10)
    copyleaks.assert_no_secret_in_log()


# -- every check, in a stack of its own ------------------------------------------------

CHECKS_ENV = {"JWT_SECRET": "compose-e2e-jwt-secret-3e9d", "WAF_TOKEN": "compose-e2e-header-secret-b7",
              "SLACK_SECRET": "compose-e2e-slack-secret-a4", "PAYLOAD": "compose-e2e-payload-secret-0c"}
PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


def route(name: str, checks: dict) -> dict:
    return {"name": name, "match": {"path_prefix": f"/hooks/{name}"}, "checks": checks}


CHECKS_POLICY = {"api": "v1", "unmatched": "deny", "routes": [
    route("jwt", {"jwt": {"secrets": [{"id": "current", "env": "JWT_SECRET"}], "algorithms": ["HS256"]}}),
    route("header", {"headers": [{"name": "x-waf-token", "secrets": [{"id": "waf", "env": "WAF_TOKEN"}]}]}),
    route("ip-allowed", {"ip_allowlist": {"cidrs": PRIVATE}}),
    route("ip-denied", {"ip_allowlist": {"cidrs": ["192.0.2.0/24"]}}),
    route("rate", {"rate_limit": {"requests": 2, "per_seconds": 3600, "by": "route"}}),
    route("slack", {"signature": {"scheme": "slack", "secrets": [{"id": "current", "env": "SLACK_SECRET"}]}}),
    route("payload", {"developer_payload": {"pointer": "/developerPayload",
                                            "secrets": [{"id": "p", "env": "PAYLOAD"}]}}),
]}


def container_config(policy: dict | str, env: dict) -> dict:
    """An Envoy config with the demo's filter settings for the app+envoy pod of
    docker-compose.yml: listener and admin on the pod's 0.0.0.0, the app on its loopback,
    the plugin where the envoy service mounts it."""
    cfg = harness.build_config(policy, 8080, env, hcm_options=denials.HCM)
    cfg["admin"]["address"]["socket_address"].update(address="0.0.0.0", port_value=9901)
    cfg["static_resources"]["listeners"][0]["address"]["socket_address"].update(address="0.0.0.0", port_value=10000)
    harness.wasm_plugin_config(cfg)["vm_config"]["code"]["local"]["filename"] = "target/webhook_guard.wasm"
    return cfg


def write_config(name: str, cfg: dict) -> Path:
    path = harness.WORK / "compose" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def edition_stack(role: str, edition: str, policy: dict, env: dict, images: dict,
                  native_image: str) -> compose_stack.Stack:
    """A stack of one pod of `edition` running `policy`: the Wasm filter in the envoy
    service (its secrets in the VM's environment), or the same config with the native
    filter in the native-envoy service (its secrets in an env_file, Envoy's environment)."""
    cfg = container_config(policy, env)
    if edition == "wasm":
        overrides = {"WEBHOOK_GUARD_ENVOY_CONFIG": str(write_config(role, cfg))}
        return compose_stack.Stack(role, {**base_env(images), **overrides}, services=compose_stack.PODS[edition])
    cfg, process_env = harness.to_native(cfg)
    env_file = harness.WORK / "compose" / f"{role}-{edition}.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in process_env.items()))
    overrides = {"NATIVE_IMAGE": native_image, "WEBHOOK_GUARD_NATIVE_ENV": str(env_file),
                 "WEBHOOK_GUARD_NATIVE_CONFIG": str(write_config(f"{role}-{edition}", cfg))}
    return compose_stack.Stack(f"{role}-{edition}", {**base_env(images), **overrides}, profiles=["native"],
                               services=compose_stack.PODS[edition])


@pytest.fixture(scope="module", params=list(compose_stack.PODS))
def checks_stack(images, native_image, request):
    stack = edition_stack("checks", request.param, CHECKS_POLICY, CHECKS_ENV, images, native_image)
    stack.edition = request.param
    yield from running(stack)


@pytest.fixture(scope="module")
def checks(checks_stack):
    return stack_envoy(checks_stack, CHECKS_POLICY, CHECKS_ENV, checks_stack.edition)


@pytest.fixture
def checks_app(checks_stack):
    return fresh_app(checks_stack, compose_stack.PODS[checks_stack.edition][0])


BODY = b'{"developerPayload":"compose-e2e-payload-secret-0c","event":"x"}'


def jwt_headers(secret: str) -> list[tuple[str, str]]:
    t = signing.now()
    return [("Authorization", "Bearer " + denials.jwt({"sub": "s", "iat": t, "exp": t + 300}, secret))]


# name -> (path, good headers, bad headers, bad status, bad reason)
CHECKS = {
    "jwt": (jwt_headers(CHECKS_ENV["JWT_SECRET"]), jwt_headers("not-the-secret"), 401, "token_signature_mismatch"),
    "header": ([("x-waf-token", CHECKS_ENV["WAF_TOKEN"])], [("x-waf-token", "nope")], 401, "header_mismatch"),
    "slack": (signing.slack(CHECKS_ENV["SLACK_SECRET"], BODY), signing.slack("other", BODY), 401, "signature_mismatch"),
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_check_passes_the_right_request_and_refuses_the_wrong_one(checks, checks_app, name):
    good, bad, status, reason = CHECKS[name]
    resp = harness.http1(checks.port, "POST", f"/hooks/{name}", good, BODY)
    assert resp.status == 200, resp
    [rec] = checks_app.requests()
    assert rec.body == BODY and rec.header("x-webhook-guard") == f"route={name}"
    checks_app.reset()
    rid = denials.request_id(name)
    resp = harness.http1(checks.port, "POST", f"/hooks/{name}", [*bad, ("X-Request-Id", rid)], BODY)
    assert resp.status == status, resp
    checks_app.assert_nothing_reached()
    line = checks.wait_log(rf"request_id={re.escape(rid)}$", timeout=10)
    assert f" route={name} " in line and f" reason={reason} " in line, line


def test_secret_header_is_stripped_before_the_app(checks, checks_app):
    resp = harness.http1(checks.port, "POST", "/hooks/header", [("x-waf-token", CHECKS_ENV["WAF_TOKEN"])], BODY)
    assert resp.status == 200
    [rec] = checks_app.requests()
    assert rec.header_values("x-waf-token") == []


def test_ip_allowlist_sees_the_senders_address_through_docker(checks, checks_app):
    resp = harness.http1(checks.port, "POST", "/hooks/ip-allowed", [], BODY)
    assert resp.status == 200, resp
    [rec] = checks_app.requests()
    client = rec.header("x-envoy-external-address")
    assert client and client != "127.0.0.1", rec.headers  # the network's gateway, not the pod's loopback
    checks_app.reset()
    rid = denials.request_id("ip")
    resp = harness.http1(checks.port, "POST", "/hooks/ip-denied", [("X-Request-Id", rid)], BODY)
    assert (resp.status, resp.json()) == (403, denials.FORBIDDEN)
    checks_app.assert_nothing_reached()
    denials.assert_denial_logged(checks, rid, "ip-denied", "ip_not_allowed", client=client)


def test_rate_limit(checks, checks_app):
    statuses = [harness.http1(checks.port, "POST", "/hooks/rate", [], BODY).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert len(checks_app.requests()) == 2


def test_developer_payload(checks, checks_app):
    resp = harness.http1(checks.port, "POST", "/hooks/payload", [], BODY)
    assert resp.status == 200
    wrong = BODY.replace(b"payload-secret", b"payload-wrong")
    assert harness.http1(checks.port, "POST", "/hooks/payload", [], wrong).status == 401
    [rec] = checks_app.requests()
    assert rec.body == BODY


def test_checks_log_holds_no_secret(checks):
    checks.assert_no_secret_in_log()


# -- a configuration the plugin refuses ------------------------------------------------


@pytest.mark.parametrize("edition", list(compose_stack.PODS))
def test_a_bad_configuration_stops_envoy_and_nothing_is_served(images, native_image, edition):
    bad = dict(CHECKS_POLICY, routes=[route("jwt", {"jwt": {"secrets": [{"env": "JWT_SECRET"}],
                                                            "algorithms": ["RS256"]}})])
    stack = edition_stack("bad", edition, bad, CHECKS_ENV, images, native_image)
    app, envoy = compose_stack.PODS[edition]
    try:
        stack.up()
        def exited():
            state = stack.inspect(envoy)["State"]
            return state if state["Status"] == "exited" else None

        state = harness.wait_until(exited, 60, interval=0.2, what=f"{envoy} to exit")
        assert state["ExitCode"] != 0
        log = stack.logs(envoy)
        assert "RS256" in log and "algorithms" in log, log[-3000:]
        # Docker still publishes the pod's port, but nothing behind it answers.
        with pytest.raises(ConnectionError):
            harness.http1(stack.port(app, 10000), "POST", "/hooks/jwt", [], BODY, timeout=5)
        up = compose_stack.StackUpstream(stack, app)
        up.assert_nothing_reached()
    finally:
        stack.down()
