"""The native edition at its boundary with Envoy (SPEC 7): a panic inside the module is
caught in the hook, the request is answered 500 and counted, Envoy keeps serving.

Runs the build with the `panic-test` feature (`make native-panic-test`), in which a
request carrying `x-webhook-guard-panic-test` panics in the request-headers hook."""

from __future__ import annotations

import json

import pytest

import harness
import signing

pytestmark = pytest.mark.native_only(reason="the native module's ABI boundary")

SECRET = "native-e2e-github-secret-5c"
BODY = b'{"action":"opened"}'
POLICY = {
    "api": "v1",
    "routes": [{"name": "github", "match": {"path_exact": "/hooks/github"},
                "checks": {"signature": {"scheme": "github", "secrets": [{"id": "current", "env": "GH"}]}}}],
}
PANIC_TEST_DIR = harness.REPO / "target" / "panic-test" / "debug"


@pytest.fixture(scope="module")
def envoy(envoy_factory):
    lib = PANIC_TEST_DIR / "libwebhook_guard.so"
    if not lib.is_file():
        pytest.fail(f"{lib} is missing (run `make native-panic-test`)", pytrace=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(harness.edition, "NATIVE_DIR", PANIC_TEST_DIR)
        yield envoy_factory.start(POLICY, {"GH": SECRET}, name="panic-test")


def post(envoy, headers):
    return harness.http1(envoy.port, "POST", "/hooks/github", [("Content-Type", "application/json"), *headers], BODY)


def test_a_panic_is_answered_500_counted_and_logged_without_payload(envoy, upstream):
    marker = "native-e2e-request-marker-93"
    resp = post(envoy, [*signing.github(SECRET, BODY), ("x-webhook-guard-panic-test", marker)])
    assert resp.status == 500
    assert json.loads(resp.body) == {"error": "internal"}
    upstream.assert_nothing_reached()
    # The panic struck before routing: counted for the requests no route took.
    assert envoy.wait_counter("webhook_guard.unmatched.denied.internal_error", 1) == 1
    envoy.wait_log(r"webhook-guard denied route=unmatched reason=internal_error client=127\.0\.0\.1")
    where = envoy.wait_log(r"webhook-guard: internal error at native/src/filter\.rs:\d+")
    assert "panic-test" not in where
    log = envoy.log()
    assert marker not in log and "injected by request" not in log


def test_envoy_keeps_serving_after_a_panic(envoy, upstream):
    assert post(envoy, [("x-webhook-guard-panic-test", "1")]).status == 500
    resp = post(envoy, signing.github(SECRET, BODY))
    assert resp.status == 200, resp.body
    [rec] = upstream.requests()
    assert rec.body == BODY
    assert rec.header_values("x-webhook-guard") == ["route=github"]
    assert envoy.proc.poll() is None
    assert envoy.counter("webhook_guard.github.allowed") == 1
