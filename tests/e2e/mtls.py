"""Pieces for the mTLS and Copyleaks end-to-end tests: certificates made with `openssl`,
their thumbprints, an HTTPS client that presents a client certificate, the Envoy config
fragments (a TLS listener, a cluster to the mock API of mock_api.py), and
Copyleaks-shaped webhook bodies.

Everything listens on 127.0.0.1 on kernel-chosen ports, like the harness.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import harness
from mock_api import COPYLEAKS_AUTHORITY, COPYLEAKS_PATH  # noqa: F401  (tests name them through mtls)


# --------------------------------------------------------------------------------------
# Certificates (openssl in a subprocess), thumbprints (hashlib over the DER).


def _openssl(*args: str) -> None:
    out = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {out.stderr}")


@dataclass
class Cert:
    name: str
    cert: Path
    key: Path
    der: bytes
    # The chain a client presents: this certificate, then its issuers (PEM file).
    chain: Path | None = None

    @property
    def sha1(self) -> str:
        return hashlib.sha1(self.der).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def _der(cert: Path) -> bytes:
    out = subprocess.run(["openssl", "x509", "-in", str(cert), "-outform", "DER"], capture_output=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.decode(errors="replace"))
    return out.stdout


def _key_args(key: Path) -> list[str]:
    # EC P-256: fast to generate, and what a modern sender presents.
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key)]


def self_signed(workdir: Path, name: str, cn: str | None = None, *, san_dns: Sequence[str] = (),
                ca: bool = False) -> Cert:
    """A self-signed certificate, no CA involved (what Copyleaks says it may present)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = workdir / f"{name}.crt", workdir / f"{name}.key"
    args = ["req", "-x509", *_key_args(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={cn or name}"]
    if san_dns:
        args += ["-addext", "subjectAltName=" + ",".join(f"DNS:{d}" for d in san_dns)]
    if ca:
        args += ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    _openssl(*args)
    return Cert(name, cert, key, _der(cert))


def signed_by(issuer: Cert, workdir: Path, name: str, cn: str | None = None, *, san_dns: Sequence[str] = (),
              client: bool = False) -> Cert:
    """A certificate issued by `issuer`; `chain` holds it followed by the issuer."""
    csr, cert, key = workdir / f"{name}.csr", workdir / f"{name}.crt", workdir / f"{name}.key"
    _openssl("req", "-new", *_key_args(key), "-out", str(csr), "-subj", f"/CN={cn or name}")
    ext = workdir / f"{name}.ext"
    lines = ["basicConstraints=CA:FALSE"]
    if san_dns:
        lines.append("subjectAltName=" + ",".join(f"DNS:{d}" for d in san_dns))
    lines.append("extendedKeyUsage=" + ("clientAuth" if client else "serverAuth"))
    ext.write_text("\n".join(lines) + "\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(issuer.cert), "-CAkey", str(issuer.key), "-CAcreateserial",
             "-out", str(cert), "-days", "2", "-extfile", str(ext))
    chain = workdir / f"{name}.chain.pem"
    chain.write_text(cert.read_text() + issuer.cert.read_text())
    return Cert(name, cert, key, _der(cert), chain)


def colon_mixed(hex_digits: str) -> str:
    """A thumbprint as people paste it: pairs separated by ':', case alternating."""
    pairs = [hex_digits[i:i + 2] for i in range(0, len(hex_digits), 2)]
    return ":".join(p.upper() if i % 2 == 0 else p.lower() for i, p in enumerate(pairs))


# --------------------------------------------------------------------------------------
# An HTTPS client with a client certificate (python ssl; the server's self-signed
# certificate is not verified: the test is about the client's).


def client_context(cert: Cert | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(str(cert.chain or cert.cert), str(cert.key))
    return ctx


def https(port: int, method: str, path: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b"", *,
          cert: Cert | None, source: str | None = None, host: str = "webhooks.example.test",
          timeout: float = harness.REQUEST_TIMEOUT) -> harness.Response:
    """One request over a new TLS connection presenting `cert` (None: no client certificate),
    from the loopback address `source` (default 127.0.0.1)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=client_context(cert),
                                       source_address=(source, 0) if source else None)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        for k, v in headers:
            conn.putheader(k, v)
        if body or method not in ("GET", "HEAD"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        resp = conn.getresponse()
        data = resp.read()
        return harness.Response(resp.status, [(k.lower(), v) for k, v in resp.getheaders()], data)
    finally:
        conn.close()



# --------------------------------------------------------------------------------------
# Envoy config fragments.


def tls_transport_socket(server: Cert, *, require_client_certificate: bool = True) -> dict:
    """The downstream TLS of a webhook listener: a client certificate is asked for and
    any chain is accepted (self-signed included); the plugin's pin is the trust."""
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "require_client_certificate": require_client_certificate,
            "common_tls_context": {
                "tls_certificates": [{"certificate_chain": {"filename": str(server.cert)},
                                      "private_key": {"filename": str(server.key)}}],
                "validation_context": {"trust_chain_verification": "ACCEPT_UNTRUSTED"},
            },
        },
    }


def api_cluster(port: int, name: str = "copyleaks_api") -> dict:
    """A plain-HTTP cluster to the mock API on 127.0.0.1."""
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
    }


def remote_list(path: str = COPYLEAKS_PATH, **extra) -> dict:
    block = {"cluster": "copyleaks_api", "authority": COPYLEAKS_AUTHORITY, "path": path}
    block.update(extra)
    return block


def list_metric(route: str, check: str, metric: str) -> str:
    """The name of a remote list's metric (src/metrics.rs): webhook_guard.list.<route>.<check>.<metric>."""
    return f"webhook_guard.list.{route}.{check}.{metric}"


def gauge(envoy: harness.Envoy, name: str) -> int | None:
    """A plugin gauge (None while undefined)."""
    return envoy.stats(name).get(name)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    return harness.wait_until(predicate, timeout, interval=interval, what=what)


def free_loopback(addr: str) -> bool:
    """Whether a client socket can be bound to `addr` (127.0.0.0/8 on Linux)."""
    try:
        with socket.socket() as s:
            s.bind((addr, 0))
        return True
    except OSError:
        return False


# What envoy/copyleaks.yaml sets on its connection manager: Envoy writes the client
# certificate into x-forwarded-client-cert (replacing any a client sent), which is how
# an Envoy before 1.38 (no connection.peer_certificate) lets the filter check SHA-1 pins.
XFCC_SET_CERT = {"forward_client_cert_details": "SANITIZE_SET", "set_current_client_cert_details": {"cert": True}}


def start_tls_envoy(factory: harness.EnvoyFactory, policy: dict, env: dict[str, str] | None, server: Cert, *,
                    name: str, api: "MockApi | None" = None, concurrency: int = 2,
                    require_client_certificate: bool = True, identity: "MockApi | None" = None,
                    hcm_options: dict | None = XFCC_SET_CERT) -> harness.Envoy:
    """Envoy with the demo's filter settings and `policy` behind a TLS listener that asks
    for a client certificate; with `api`, a `copyleaks_api` cluster pointing at the mock;
    with `identity`, a `copyleaks_id` cluster pointing at that one. `hcm_options` go to
    the connection manager (None: Envoy's defaults, where the filter has only what the
    connection gives)."""
    harness.require_wasm()
    ts = tls_transport_socket(server, require_client_certificate=require_client_certificate)
    cfg = harness.build_config(policy, factory.upstream.port, env, filter_chain={"transport_socket": ts},
                               hcm_options=hcm_options)
    if api is not None:
        cfg["static_resources"]["clusters"].append(api_cluster(api.port))
    if identity is not None:
        cfg["static_resources"]["clusters"].append(api_cluster(identity.port, "copyleaks_id"))
    return factory.start_config(cfg, name=name, concurrency=concurrency,
                                secrets=harness.collect_secrets(policy, env))


# --------------------------------------------------------------------------------------
# Copyleaks-shaped webhook bodies.


def completed_webhook(scan_id: str, developer_payload: object = None, *, include_payload: bool = True) -> dict:
    """A "completed" status webhook as Copyleaks sends it: developerPayload at the top
    level (echoed from properties.developerPayload of the submit request)."""
    doc: dict = {"status": 0}
    if include_payload:
        doc["developerPayload"] = developer_payload
    doc.update({
        "scannedDocument": {
            "scanId": scan_id,
            "totalWords": 1843,
            "totalExcluded": 12,
            "credits": 2,
            "expectedCredits": 2,
            "creationTime": "2026-11-20T09:14:03.512345Z",
            "metadata": {"filename": "essay-résumé.docx"},
        },
        "results": {
            "internet": [{"id": "2a1b402420", "title": "Über the plagiarism", "url": "https://example.com/source",
                          "matchedWords": 40, "identicalWords": 31, "similarWords": 6, "paraphrasedWords": 3,
                          "totalWords": 900}],
            "database": [], "batch": [], "repositories": [],
            "score": {"identicalWords": 31, "minorChangedWords": 6, "relatedMeaningWords": 3, "aggregatedScore": 2.17},
        },
        "notifications": {"alerts": []},
    })
    return doc


def body_of(doc: dict) -> bytes:
    """Serialised as a sender would, non-ASCII kept as UTF-8, so 'unchanged' means byte for byte."""
    return json.dumps(doc, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8")
