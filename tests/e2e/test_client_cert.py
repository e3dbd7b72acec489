"""client_cert with static thumbprints (SPEC 1, 2, 3, 5) over real mTLS: certificates
made with openssl, thumbprints computed here over their DER, an Envoy TLS listener that
asks for a client certificate and accepts any chain (the pin is the trust).

One Envoy with require_client_certificate: true (one route per kind of pin), one with
require_client_certificate: false (what a client without a certificate meets there)."""

from __future__ import annotations

import json
import ssl

import pytest

import harness
import mtls


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    sha1_client = mtls.self_signed(d, "sha1-client", "copyleaks-sender-1")
    sha256_client = mtls.self_signed(d, "sha256-client", "copyleaks-sender-2")
    stranger = mtls.self_signed(d, "stranger", "copyleaks-sender-1")  # same subject, other key
    ca = mtls.self_signed(d, "sender-ca", "Sender Test CA", ca=True)
    leaf = mtls.signed_by(ca, d, "sender-leaf", "sender-leaf", client=True)
    leaf_of_pinned_ca = mtls.signed_by(ca, d, "sender-leaf-2", "sender-leaf-2", client=True)
    return {
        "server": mtls.self_signed(d, "server", "webhooks.example.test", san_dns=["webhooks.example.test"]),
        "sha1": sha1_client, "sha256": sha256_client, "stranger": stranger,
        "ca": ca, "leaf": leaf, "leaf2": leaf_of_pinned_ca,
    }


def route(name: str, thumbprints: list[str]) -> dict:
    return {"name": name, "match": {"path_prefix": f"/hooks/{name}"}, "checks": {"client_cert": {"thumbprints": thumbprints}}}


@pytest.fixture(scope="module")
def policy(pki):
    return {"api": "v1", "unmatched": "deny", "routes": [
        # The SHA-1 pin as openssl prints it (colons), in mixed case.
        route("sha1", [mtls.colon_mixed(pki["sha1"].sha1)]),
        # The SHA-256 pin, same spelling.
        route("sha256", [mtls.colon_mixed(pki["sha256"].sha256)]),
        # The SHA-1 pin as the Windows certificate dialog shows it: upper case, spaces.
        route("spaced", [" ".join(pki["sha1"].sha1[i:i + 2] for i in range(0, 40, 2)).upper()]),
        # A leaf issued by a CA, pinned by its own thumbprint; presented with its chain.
        route("leaf", [pki["leaf"].sha256]),
        # Only the issuing CA pinned: the leaves it issued are not pinned.
        route("issuer", [pki["ca"].sha256, pki["ca"].sha1]),
    ]}


@pytest.fixture(scope="module")
def required(envoy_factory, pki, policy):
    return mtls.start_tls_envoy(envoy_factory, policy, None, pki["server"], name="required")


@pytest.fixture(scope="module")
def optional(envoy_factory, pki, policy):
    return mtls.start_tls_envoy(envoy_factory, policy, None, pki["server"], name="optional",
                                require_client_certificate=False, concurrency=1)


BODY = b'{"status":0,"developerPayload":"not-checked-here"}'
JSON = [("Content-Type", "application/json")]


def post(envoy, path: str, cert, body: bytes = BODY, **kw) -> harness.Response:
    return mtls.https(envoy.port, "POST", path, JSON, body, cert=cert, **kw)


def assert_forwarded(resp: harness.Response, upstream, route_name: str, body: bytes = BODY) -> None:
    assert resp.status == 200, resp
    [rec] = upstream.requests()
    assert rec.path == f"/hooks/{route_name}"
    assert rec.body == body
    assert rec.header_values("x-webhook-guard") == [f"route={route_name}"]
    # The app's echo travelled back over TLS to the sender.
    assert resp.json()["received"]["path"] == f"/hooks/{route_name}"


def assert_forbidden(resp: harness.Response, upstream) -> None:
    assert resp.status == 403, resp
    assert resp.json() == {"error": "forbidden"}
    upstream.assert_nothing_reached()


def test_thumbprints_are_the_sha1_and_sha256_of_the_der(pki):
    """The pins the tests write are computed from `openssl x509 -outform DER`; check them
    against openssl's own fingerprints, so a wrong pin cannot make a test pass."""
    import subprocess

    c = pki["sha1"]
    for alg, mine in (("-sha1", c.sha1), ("-sha256", c.sha256)):
        out = subprocess.run(["openssl", "x509", "-in", str(c.cert), "-noout", "-fingerprint", alg],
                             capture_output=True, text=True, check=True).stdout
        assert out.strip().split("=", 1)[1].replace(":", "").lower() == mine


def test_sha1_pinned_certificate_is_forwarded(required, upstream, pki):
    before = required.counter("webhook_guard.sha1.allowed")
    assert_forwarded(post(required, "/hooks/sha1", pki["sha1"]), upstream, "sha1")
    assert required.wait_counter("webhook_guard.sha1.allowed", before + 1) == before + 1


def test_sha256_pinned_certificate_is_forwarded(required, upstream, pki):
    assert_forwarded(post(required, "/hooks/sha256", pki["sha256"]), upstream, "sha256")


def test_thumbprint_written_with_spaces_in_upper_case_pins_too(required, upstream, pki):
    assert_forwarded(post(required, "/hooks/spaced", pki["sha1"]), upstream, "spaced")


@pytest.mark.parametrize("path,cert", [("/hooks/sha256", "sha1"), ("/hooks/sha1", "sha256")],
                         ids=["sha1-cert-on-sha256-route", "sha256-cert-on-sha1-route"])
def test_a_certificate_pinned_on_another_route_is_refused(required, upstream, pki, path, cert):
    """Each route has its own pins: the SHA-1 pin of one certificate says nothing about
    another certificate's SHA-256, and vice versa."""
    assert_forbidden(post(required, path, pki[cert]), upstream)


def test_unpinned_certificate_is_refused_before_the_app_sees_anything(required, upstream, pki):
    """Same subject as a pinned certificate, another key: the thumbprint differs."""
    before = required.counter("webhook_guard.sha1.denied.cert_not_pinned")
    assert_forbidden(post(required, "/hooks/sha1", pki["stranger"]), upstream)
    assert required.wait_counter("webhook_guard.sha1.denied.cert_not_pinned", before + 1) == before + 1
    line = required.wait_log(r"denied route=sha1 reason=cert_not_pinned")
    assert "client=127.0.0.1" in line


def test_no_client_certificate_on_a_listener_that_requires_one(required, upstream):
    """What a sender without a certificate meets on the recommended listener.

    Envoy 1.40 fact: with `trust_chain_verification: ACCEPT_UNTRUSTED` (needed for
    self-signed senders), `require_client_certificate: true` does NOT make Envoy refuse
    the handshake of a client that presents no certificate (TLS 1.2 and 1.3 alike): the
    request reaches the filter, which refuses it (403, reason cert_missing)."""
    before = required.counter("webhook_guard.sha1.denied.cert_missing")
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = mtls.client_context(None)
        ctx.minimum_version = ctx.maximum_version = version
        import http.client

        conn = http.client.HTTPSConnection("127.0.0.1", required.port, timeout=harness.REQUEST_TIMEOUT, context=ctx)
        try:
            conn.request("POST", "/hooks/sha1", body=BODY, headers=dict(JSON))
            resp = conn.getresponse()
            status, body = resp.status, resp.read()
        finally:
            conn.close()
        assert status == 403, (version, status, body)
        assert json.loads(body) == {"error": "forbidden"}
    upstream.assert_nothing_reached()
    assert required.wait_counter("webhook_guard.sha1.denied.cert_missing", before + 2) == before + 2
    # Envoy saw the two handshakes without a certificate.
    stats = required.stats("ssl.no_certificate")
    assert sum(v for k, v in stats.items() if k.endswith("ssl.no_certificate")) >= 2, stats


def test_no_client_certificate_where_the_listener_does_not_require_one(optional, upstream, pki):
    before = optional.counter("webhook_guard.sha1.denied.cert_missing")
    assert_forbidden(post(optional, "/hooks/sha1", None), upstream)
    assert optional.wait_counter("webhook_guard.sha1.denied.cert_missing", before + 1) == before + 1
    optional.wait_log(r"denied route=sha1 reason=cert_missing client=127\.0\.0\.1")
    # The same listener forwards the pinned certificate.
    assert_forwarded(post(optional, "/hooks/sha1", pki["sha1"]), upstream, "sha1")


def test_leaf_pinned_by_its_own_thumbprint_is_forwarded_with_its_chain(required, upstream, pki):
    assert_forwarded(post(required, "/hooks/leaf", pki["leaf"]), upstream, "leaf")


def test_pinning_the_issuer_does_not_pin_the_leaves_it_issued(required, upstream, pki):
    """Only the leaf the client presents is hashed: a chain that contains a pinned CA
    certificate is not a pinned certificate."""
    before = required.counter("webhook_guard.issuer.denied.cert_not_pinned")
    assert_forbidden(post(required, "/hooks/issuer", pki["leaf2"]), upstream)
    assert required.wait_counter("webhook_guard.issuer.denied.cert_not_pinned", before + 1) == before + 1


def test_pinned_certificate_is_accepted_on_every_new_connection(required, upstream, pki):
    """Connections land on different workers (concurrency 2): each VM pins alike."""
    for _ in range(6):
        resp = post(required, "/hooks/sha256", pki["sha256"])
        assert resp.status == 200, resp
    assert len(upstream.requests()) == 6


def test_client_cannot_forge_the_verdict_header(required, upstream, pki):
    resp = mtls.https(required.port, "POST", "/hooks/sha1", [*JSON, ("x-webhook-guard", "route=issuer")], BODY,
                      cert=pki["stranger"])
    assert_forbidden(resp, upstream)
    resp = mtls.https(required.port, "POST", "/hooks/sha1", [*JSON, ("x-webhook-guard", "route=issuer")], BODY,
                      cert=pki["sha1"])
    assert_forwarded(resp, upstream, "sha1")


def test_metrics_count_each_verdict(required):
    assert required.counter("webhook_guard.sha1.allowed") >= 2
    assert required.counter("webhook_guard.sha256.allowed") >= 7
    assert required.counter("webhook_guard.sha256.denied.cert_not_pinned") >= 1
