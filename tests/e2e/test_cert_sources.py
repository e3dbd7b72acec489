"""client_cert on whatever the running Envoy offers (SPEC 5), over real mTLS.

Envoy 1.38 and newer give the filter the client certificate (`connection.peer_certificate`);
1.36 and 1.37 only its SHA-256 (`connection.sha256_peer_certificate_digest`). There SHA-256
pins are checked against the digest, SHA-1 pins need the certificate that the connection
manager writes into x-forwarded-client-cert (SANITIZE_SET with `cert: true`), and without
it a SHA-1-pinned route refuses by name (cert_pin_unverifiable) and says how to fix it.

The same tests run on every Envoy of the version matrix (scripts/envoy-versions.sh) and
assert what that release can do."""

from __future__ import annotations

import re

import pytest

import harness
import mtls

# What the Wasm host offers; the native edition reads certificates through XFCC alone
# (harness.to_native).
# The first release with connection.peer_certificate; the native edition's ABI gives the
# digest only, on every release.
HAS_PEM = (harness.current_edition() == "wasm" and harness.envoy_version() is not None
           and harness.envoy_version() >= (1, 38, 0))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    return {
        "server": mtls.self_signed(d, "server", "webhooks.example.test", san_dns=["webhooks.example.test"]),
        "sender": mtls.self_signed(d, "sender", "copyleaks-sender"),
        "stranger": mtls.self_signed(d, "stranger", "copyleaks-sender"),
    }


@pytest.fixture(scope="module")
def policy(pki):
    def route(name: str, thumbprints: list[str]) -> dict:
        return {"name": name, "match": {"path_prefix": f"/hooks/{name}"},
                "checks": {"client_cert": {"thumbprints": thumbprints}}}

    return {"api": "v1", "unmatched": "deny", "routes": [
        route("sha1", [pki["sender"].sha1.upper()]),
        route("sha256", [mtls.colon_mixed(pki["sender"].sha256)]),
    ]}


@pytest.fixture(scope="module")
def bare(envoy_factory, pki, policy):
    """Envoy's defaults on the connection manager: nothing but the connection."""
    return mtls.start_tls_envoy(envoy_factory, policy, None, pki["server"], name="bare", hcm_options=None)


@pytest.fixture(scope="module")
def with_xfcc(envoy_factory, pki, policy):
    """SANITIZE_SET with cert: true, as envoy/copyleaks.yaml."""
    return mtls.start_tls_envoy(envoy_factory, policy, None, pki["server"], name="xfcc")


@pytest.fixture(scope="module")
def forwarding(envoy_factory, pki, policy):
    """FORWARD_ONLY: the header a client writes reaches the filter untouched."""
    return mtls.start_tls_envoy(envoy_factory, policy, None, pki["server"], name="forwarding",
                                hcm_options={"forward_client_cert_details": "FORWARD_ONLY"})


BODY = b'{"status":0}'


def post(envoy, route: str, cert, headers=()) -> harness.Response:
    return mtls.https(envoy.port, "POST", f"/hooks/{route}", [("Content-Type", "application/json"), *headers],
                      BODY, cert=cert)


def assert_forwarded(resp, upstream, route: str) -> None:
    assert resp.status == 200, resp
    [rec] = upstream.requests()
    assert rec.path == f"/hooks/{route}" and rec.body == BODY
    assert rec.header_values("x-webhook-guard") == [f"route={route}"]


def assert_forbidden(resp, upstream) -> None:
    assert resp.status == 403, resp
    assert resp.json() == {"error": "forbidden"}
    upstream.assert_nothing_reached()


def test_sha256_pin_on_the_connection_alone(bare, upstream, pki):
    assert_forwarded(post(bare, "sha256", pki["sender"]), upstream, "sha256")
    if HAS_PEM:
        bare.wait_log(r"client certificates are read from connection\.peer_certificate")
    else:
        # Then what it does without the certificate (the native harness sets Envoy's own
        # x-forwarded-client-cert, which older Envoys' bare listener does not).
        bare.wait_log(r"this Envoy gives only the SHA-256 digest of client certificates "
                      r"\(connection\.sha256_peer_certificate_digest")


def test_sha256_pin_refuses_another_certificate(bare, upstream, pki):
    before = bare.counter("webhook_guard.sha256.denied.cert_not_pinned")
    assert_forbidden(post(bare, "sha256", pki["stranger"]), upstream)
    assert bare.wait_counter("webhook_guard.sha256.denied.cert_not_pinned", before + 1) == before + 1


@pytest.mark.envoy_min("1.38", "connection.peer_certificate gives the filter the certificate itself")
def test_sha1_pin_on_the_connection_alone(bare, upstream, pki):
    assert_forwarded(post(bare, "sha1", pki["sender"]), upstream, "sha1")
    assert "cert_pin_unverifiable" not in bare.log()


@pytest.mark.envoy_before("1.38", "from 1.38 on the filter has the certificate and checks SHA-1 pins")
def test_sha1_pin_without_the_certificate_is_refused_by_name(bare, upstream, pki):
    """Only the SHA-256 is known: refused by name with the fix in the log, once per
    Envoy, never as a missing certificate, and never let through."""
    for cert in ("sender", "sender", "stranger"):
        assert_forbidden(post(bare, "sha1", pki[cert]), upstream)
    assert bare.wait_counter("webhook_guard.sha1.denied.cert_pin_unverifiable", 3) == 3
    assert bare.counter("webhook_guard.sha1.denied.cert_missing") == 0
    bare.wait_log(r"denied route=sha1 reason=cert_pin_unverifiable client=127\.0\.0\.1")
    advice = bare.wait_log(r"route sha1 pins SHA-1 thumbprints, but this Envoy gives the filter only the SHA-256")
    assert "forward_client_cert_details: SANITIZE_SET" in advice and "cert: true" in advice
    assert len(re.findall(r"route sha1 pins SHA-1 thumbprints", bare.log())) == 1


def test_sha1_pin_with_the_certificate_in_xfcc(with_xfcc, upstream, pki):
    """What envoy/copyleaks.yaml sets: SHA-1 pins work on every Envoy of the matrix."""
    assert_forwarded(post(with_xfcc, "sha1", pki["sender"]), upstream, "sha1")
    upstream.reset()
    assert_forwarded(post(with_xfcc, "sha256", pki["sender"]), upstream, "sha256")
    upstream.reset()
    before = with_xfcc.counter("webhook_guard.sha1.denied.cert_not_pinned")
    assert_forbidden(post(with_xfcc, "sha1", pki["stranger"]), upstream)
    assert with_xfcc.wait_counter("webhook_guard.sha1.denied.cert_not_pinned", before + 1) == before + 1
    if not HAS_PEM:
        with_xfcc.wait_log(r"the certificate is taken from the Cert= of x-forwarded-client-cert that matches it")
    assert "cert_pin_unverifiable" not in with_xfcc.log()


def test_a_client_written_xfcc_is_not_believed(forwarding, upstream, pki):
    """A stranger sends the pinned sender's certificate (public) in the header, where
    Envoy passes the header on: the connection's own certificate decides."""
    sender_xfcc = _xfcc_of(pki["sender"])
    for route in ("sha1", "sha256"):
        assert_forbidden(post(forwarding, route, pki["stranger"], [("x-forwarded-client-cert", sender_xfcc)]),
                         upstream)
    # The sender itself, with its own certificate in the header, is let through.
    assert_forwarded(post(forwarding, "sha256", pki["sender"], [("x-forwarded-client-cert", sender_xfcc)]),
                     upstream, "sha256")


def _xfcc_of(cert: mtls.Cert) -> str:
    """The x-forwarded-client-cert element Envoy would write for `cert`."""
    pem = cert.cert.read_text()
    encoded = "".join({"\n": "%0A", " ": "%20", "+": "%2B", "/": "%2F", "=": "%3D"}.get(c, c) for c in pem)
    return f'Hash={cert.sha256};Cert="{encoded}"'
