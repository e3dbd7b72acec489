#!/usr/bin/env python3
"""webhook-guard benchmark: the plugin side by side with native Envoy doing the same work.

`make bench` runs this with the project's .venv Python: it runs Envoy, and makes its
certificates and JWT, with the end-to-end harness (tests/e2e: harness, mtls, denials).
What it does:

* ONE Envoy process (`.venv/bin/envoy`) with one listener per case, all on 127.0.0.1 with
  kernel-chosen ports, all routing to the same upstream: a listener of the same Envoy on
  a Unix socket that reads the whole request (native buffer filter) and answers with a
  `direct_response` 200. Every case does exactly the same proxying to the same upstream;
  only the HTTP filter in front of the router differs.
* Load from h2load (HTTP/2 cleartext, Debian `nghttp2-client`). h2load cannot present a
  TLS client certificate, so the two mTLS cases (Copyleaks, and the native buffer filter on
  an identical mTLS listener) are driven by `oha` (crates.io), which can; the pair shares
  the tool, so its ratio is fair. Without oha those two cases are skipped, loudly.
* Interleaved rounds: every case once per round, in a fixed order, ROUNDS times; each
  guarded case is paired with its native counterpart of the same round and the median of
  the per-round ratios is reported.
* CPU per request: Envoy's own accounting (sum of /proc/<pid>/task/*/schedstat on-CPU
  ns, before and after a run) divided by the requests that listener completed (Envoy's
  `downstream_rq_completed` counter, read outside the measured window).
* Correctness while measuring: each run's status codes (h2load/oha output) and Envoy's
  counters (per-listener response classes, the plugin's allowed/denied counters,
  jwt_authn/rbac counters, the upstream's request count) must say 200-and-forwarded for
  guarded cases and 403-and-not-forwarded for the refused ones, or the benchmark stops.
* Latency percentiles at a fixed, low request rate (h2load --rps, per-request log).
* Memory: Envoy's RSS and `server.memory_allocated` after a few 1 MiB requests and after
  MEM_REQUESTS more (no growth expected). Plugin size.

Results: a table on stdout, BENCHMARKS.md at the repository root, raw numbers in
.work/bench/results.json. Environment knobs (all optional):

  ROUNDS=5 DURATION=2 WARMUP=0.5     rounds, seconds per run, h2load warm-up seconds
  CONNECTIONS=2 STREAMS=8            h2load -c / -m (oha -c / -p for the TLS cases)
  ENVOY_CONCURRENCY=1                Envoy worker threads (the load generator needs a core too)
  LAT_RPS=200 LAT_DURATION=2         fixed-rate latency pass (0 disables it)
  MEM_REQUESTS=1000                  1 MiB requests for the memory check (0 disables it)
  CASES=gh_1k,buf_1k,...             run only these cases (pairs are kept together)
  HOSTCALLS="body;gh_path;guard"      --hostcalls: only these rows (and noop); guard=PATH adds a build
  BENCH_TLS=1                        0 skips the oha/mTLS cases
  STRICT=0                           1: exit non-zero when a target fails, not only on errors
  BENCH_OUT=BENCHMARKS.md            where the report goes ("" to skip writing it)

`bench/run.py --profile CASE [--seconds N]` runs one case under `perf record -e cpu-clock -g`
instead and prints the hottest symbols (see BENCHMARKS.md, Profiling).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import platform
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The end-to-end harness runs Envoy, makes certificates and JWTs: the benchmark uses the
# same code.
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import denials  # noqa: E402
import harness  # noqa: E402
import mtls  # noqa: E402

WORK = Path(os.environ.get("BENCH_WORK", REPO / ".work" / "bench"))
WASM = Path(os.environ.get("WEBHOOK_GUARD_WASM", REPO / "target" / "webhook_guard.wasm"))
ENVOY_BIN = Path(os.environ.get("WEBHOOK_GUARD_ENVOY", REPO / ".venv" / "bin" / "envoy"))

KiB = 1024
MiB = 1024 * 1024


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


ROUNDS = env_int("ROUNDS", 5)
DURATION = env_float("DURATION", 2.0)
WARMUP = env_float("WARMUP", 0.5)
CONNECTIONS = env_int("CONNECTIONS", 2)
STREAMS = env_int("STREAMS", 8)
ENVOY_CONCURRENCY = env_int("ENVOY_CONCURRENCY", 1)
LAT_RPS = env_int("LAT_RPS", 200)
LAT_DURATION = env_float("LAT_DURATION", 2.0)
MEM_REQUESTS = env_int("MEM_REQUESTS", 1000)
# warn: the plugin's one line per denial is written, as in production.
ENVOY_LOG_LEVEL = os.environ.get("ENVOY_LOG_LEVEL", "warn")
BENCH_TLS = os.environ.get("BENCH_TLS", "1") != "0"
# The reference proxy-wasm filters of bench/noop-filter (the platform's floor).
BENCH_REFERENCE = os.environ.get("BENCH_REFERENCE", "1") != "0"
# The native edition (make native) beside the Wasm plugin, same cases, same rounds
# (BENCH_NATIVE=0: the Wasm plugin only).
NATIVE_DIR = REPO / "target" / "native"
BENCH_NATIVE = os.environ.get("BENCH_NATIVE", "1") != "0"
NOOP_TARGET = WORK / "noop-target"
NOOP_WASM = NOOP_TARGET / "wasm32-wasip1" / "release" / "bench_noop_filter.wasm"
STRICT = os.environ.get("STRICT", "0") == "1"
BENCH_OUT = os.environ.get("BENCH_OUT", str(REPO / "BENCHMARKS.md"))
# Hard ceilings so no step can hang the run.
RUN_TIMEOUT_SLACK = 30.0
START_TIMEOUT = 30.0

# Targets from issue 5.
# The most each Wasm case may cost per request, as a ratio of CPU to its native
# counterpart in the same round: the Wasm platform's own floor (an empty filter 1.08x no
# filter, one holding the body 1.12x a native buffer) plus a little for the plugin's work.
TARGET_RATIOS = {"allow_ip": 1.15, "gh_1k": 1.20, "refused": 1.30, "jwt": 1.10}
# A row with a target and neither its own limit nor one above.
TARGET_RATIO = 1.10
TARGET_HMAC_MBPS = 400.0
# The native module's HMAC at 1 MiB (issue: at least 1.2 GB/s; SHA-256 with SHA-NI here).
TARGET_NATIVE_HMAC_MBPS = 1200.0
# The project's limit, which `make build` enforces too.
TARGET_WASM_BYTES = 768 * KiB
MEM_TOLERANCE = env_int("MEM_TOLERANCE_MB", 8) * MiB

# Benchmark secrets: public, made up for this benchmark only.
GITHUB_SECRET = "bench-github-secret"
JWT_SECRET = "bench-jwt-secret-0123456789abcdef"
DEVELOPER_PAYLOAD = "bench-developer-payload-5f1c9e"

# GitHub's published hook ranges (api.github.com/meta "hooks"). The refused case uses only
# these, so 127.0.0.1 is refused; the allowed case adds 127.0.0.1/32.
GITHUB_HOOK_CIDRS = ["192.30.252.0/22", "185.199.108.0/22", "140.82.112.0/20", "143.55.64.0/20",
                     "2a0a:a440::/29", "2606:50c0::/32"]

ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


def die(msg: str) -> "NoReturn":  # noqa: F821
    print(f"\nbench: FAILED: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def say(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------------------
# Fixtures: bodies, signatures, a JWT, TLS keys.


def json_body(size: int, extra: dict | None = None) -> bytes:
    """A JSON object of exactly `size` bytes (a webhook-like payload padded with a filler)."""
    doc = {"action": "opened", "number": 1, "repository": {"full_name": "bench/webhook-guard"}}
    doc.update(extra or {})
    doc["padding"] = ""
    base = len(json.dumps(doc, separators=(",", ":")).encode())
    if base > size:
        raise ValueError(f"body of {size} bytes too small for {doc}")
    doc["padding"] = "x" * (size - base)
    out = json.dumps(doc, separators=(",", ":")).encode()
    assert len(out) == size, (len(out), size)
    return out


def make_jwt(secret: str) -> str:
    claims = {"iss": "bench", "sub": "bench-sender", "iat": int(time.time()), "exp": 4102444800}  # 2100-01-01
    return denials.jwt(claims, secret, header={"alg": "HS256", "typ": "JWT", "kid": "bench"})


def make_cert(certs: Path, name: str, cn: str) -> mtls.Cert:
    return mtls.self_signed(certs, name, cn, san_dns=[cn])


# --------------------------------------------------------------------------------------
# Cases.


@dataclass
class Case:
    name: str
    listener: str                  # kind of listener (its filters); the listener itself is named after the case
    path: str
    body: str                      # key into the bodies dict
    headers: list[tuple[str, str]] = field(default_factory=list)
    expect: int = 200              # 200: verified and forwarded; 403: refused, not forwarded
    native: str | None = None      # the native case it is compared with
    tls: bool = False              # mTLS: driven by oha with the client certificate
    checks: list[tuple[str, str]] = field(default_factory=list)  # (stat name, "all" | "none")
    desc: str = ""
    target: str = ""               # text of the target for this row
    limit: float = 0.0             # the ratio the target allows (0: TARGET_RATIOS, else TARGET_RATIO)


def target_text(case: str) -> str:
    """The target column of `case`: empty when the case has none."""
    ratio = TARGET_RATIOS.get(case)
    return f"<= {ratio:.2f}x" if ratio else ""


def build_cases(fx: dict) -> list[Case]:
    gh = lambda size: [("content-type", "application/json"), ("x-github-event", "push"),  # noqa: E731
                       ("x-hub-signature-256", "sha256=" + fx["sig"][size])]
    wg = "wasmcustom.webhook_guard"
    fwd = ("http.upstream.downstream_rq_2xx", "all")
    cases = [
        Case("floor", "floor", "/hooks/github", "1k", gh("1k"), checks=[fwd],
             desc="no filter, 1 KiB (floor)"),
    ]
    if BENCH_REFERENCE:
        # Not webhook-guard: an empty Rust proxy-wasm filter (bench/noop-filter), the price
        # of any Wasm filter in this Envoy; the floor under the plugin's numbers.
        cases.append(Case("wasm_noop", "wasm_noop", "/hooks/github", "1k", gh("1k"), native="floor", checks=[fwd],
                          desc="reference: empty proxy-wasm filter"))
    cases += [
        # What running the plugin at all costs (a header-only check that passes).
        Case("allow_ip", "guard", "/hooks/ip-only", "1k", gh("1k"), native="floor",
             checks=[(f"{wg}.ip-only.allowed", "all"), fwd], desc="guard: ip_allowlist only (fixed cost)",
             target=target_text("allow_ip")),
    ]
    for size, label in (("1k", "1 KiB"), ("64k", "64 KiB"), ("1m", "1 MiB")):
        cases.append(Case(f"gh_{size}", "guard", "/hooks/github", size, gh(size), native=f"buf_{size}",
                          checks=[(f"{wg}.github.allowed", "all"), fwd],
                          desc=f"guard: GitHub signature + ip_allowlist, {label}",
                          target=target_text(f"gh_{size}")))
        cases.append(Case(f"buf_{size}", "buffer", "/hooks/github", size, gh(size), checks=[fwd],
                          desc=f"native buffer, {label}"))
        if BENCH_REFERENCE and size == "1k":
            cases.append(Case("wasm_buf_1k", "wasm_buffer", "/hooks/github", size, gh(size), native="buf_1k",
                              checks=[fwd], desc="reference: proxy-wasm filter holding the body, 1 KiB"))
    auth = [("content-type", "application/json"), ("authorization", "Bearer " + fx["jwt"])]
    cases += [
        Case("jwt", "guard", "/hooks/jwt", "1k", auth, native="jwt_authn",
             checks=[(f"{wg}.jwt.allowed", "all"), fwd], desc="guard: JWT HS256", target=target_text("jwt")),
        Case("jwt_authn", "jwt_authn", "/hooks/jwt", "1k", auth,
             checks=[("http.jwt_authn.jwt_authn.allowed", "all"), fwd], desc="native jwt_authn HS256"),
        Case("refused", "guard", "/hooks/refused", "1k", gh("1k"), expect=403, native="rbac",
             checks=[(f"{wg}.refused.denied.ip_not_allowed", "all"), ("http.upstream.downstream_rq_completed", "none")],
             desc="guard: refused by ip_allowlist (headers)", target=target_text("refused")),
        Case("rbac", "rbac", "/hooks/refused", "1k", gh("1k"), expect=403,
             checks=[("http.rbac.rbac.denied", "all"), ("http.upstream.downstream_rq_completed", "none")],
             desc="native rbac refusing"),
    ]
    if BENCH_TLS:
        cl = [("content-type", "application/json")]
        cases += [
            Case("copyleaks", "guard_mtls", "/hooks/copyleaks", "copyleaks", cl, native="buf_mtls", tls=True,
                 checks=[(f"{wg}.copyleaks.allowed", "all"), fwd],
                 desc="guard: Copyleaks payload + pinned cert, mTLS"),
            Case("buf_mtls", "buffer_mtls", "/hooks/copyleaks", "copyleaks", cl, tls=True, checks=[fwd],
                 desc="native buffer, same mTLS listener config"),
        ]
    if BENCH_NATIVE:
        # The native module on the same cases as the plugin (not the mTLS one: the native
        # edition reads the client certificate from the XFCC Envoy sets, another listener).
        # Its targets (issue): GitHub 1 KiB and refusals within 1.10x, JWT within 1.05x.
        limits = {"gh_1k": 1.10, "refused": 1.10, "jwt": 1.05}
        for c in [c for c in cases if c.listener == "guard"]:
            limit = limits.get(c.name, 0.0)
            cases.append(Case(f"native_{c.name}", "native_guard", c.path, c.body, c.headers, expect=c.expect,
                              native=c.native, checks=c.checks, desc=c.desc.replace("guard:", "native module:"),
                              target=f"<= {limit:.2f}x" if limit else "", limit=limit))
    wanted = [c for c in os.environ.get("CASES", "").split(",") if c]
    if wanted:
        keep = set(wanted)
        for c in cases:
            if c.name in keep and c.native:
                keep.add(c.native)
        for c in cases:
            if c.native in keep:
                keep.add(c.name)
        unknown = keep - {c.name for c in cases}
        if unknown:
            die(f"unknown CASES {sorted(unknown)}; known: {[c.name for c in cases]}")
        cases = [c for c in cases if c.name in keep]
    return cases


# --------------------------------------------------------------------------------------
# The Envoy configuration.


def policy() -> dict:
    return {
        "api": "v1",
        "mode": "enforce",
        "max_body_bytes": MiB,
        "unmatched": "deny",
        "routes": [
            {"name": "github", "match": {"path_prefix": "/hooks/github"},
             "checks": {"ip_allowlist": {"cidrs": GITHUB_HOOK_CIDRS + ["127.0.0.1/32"]},
                        "signature": {"scheme": "github", "secrets": [{"id": "current", "env": "GITHUB_WEBHOOK_SECRET"}]}}},
            {"name": "ip-only", "match": {"path_prefix": "/hooks/ip-only"},
             "checks": {"ip_allowlist": {"cidrs": GITHUB_HOOK_CIDRS + ["127.0.0.1/32"]}}},
            {"name": "jwt", "match": {"path_prefix": "/hooks/jwt"},
             "checks": {"jwt": {"secrets": [{"id": "current", "env": "JWT_SECRET"}], "algorithms": ["HS256"],
                                "issuer": "bench"}}},
            {"name": "refused", "match": {"path_prefix": "/hooks/refused"},
             "checks": {"ip_allowlist": {"cidrs": GITHUB_HOOK_CIDRS},
                        "signature": {"scheme": "github", "secrets": [{"id": "current", "env": "GITHUB_WEBHOOK_SECRET"}]}}},
            {"name": "copyleaks", "match": {"path_prefix": "/hooks/copyleaks"},
             "checks": {"client_cert": {"thumbprints": ["__THUMBPRINT__"]},
                        "developer_payload": {"secrets": [{"id": "current", "env": "COPYLEAKS_DEVELOPER_PAYLOAD"}]}}},
        ],
    }


def native_filter(thumbprint: str) -> dict:
    """The native edition with the same policy; its secrets come from Envoy's environment
    (set by main)."""
    pol = json.dumps(policy()).replace("__THUMBPRINT__", thumbprint)
    return {"name": "webhook_guard", "typed_config": harness.native_filter(pol)}


def wasm_filter(thumbprint: str, wasm: Path | None = None, vm_id: str = "webhook_guard") -> dict:
    pol = json.dumps(policy()).replace("__THUMBPRINT__", thumbprint)
    return {"name": "webhook_guard", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        "config": {
            "name": "webhook_guard", "root_id": "webhook_guard", "fail_open": False,
            "allow_on_headers_stop_iteration": True,
            "vm_config": {"vm_id": vm_id, "runtime": "envoy.wasm.runtime.v8",
                          "code": {"local": {"filename": str(wasm or WASM)}},
                          "environment_variables": {"key_values": {
                              "GITHUB_WEBHOOK_SECRET": GITHUB_SECRET, "JWT_SECRET": JWT_SECRET,
                              "COPYLEAKS_DEVELOPER_PAYLOAD": DEVELOPER_PAYLOAD}}},
            "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": pol}}}}


def reference_filter(mode: str) -> dict:
    """bench/noop-filter: `noop` does nothing, `buffer` holds the headers until the body is
    complete; other operations in its lib.rs. One VM per configuration."""
    key = re.sub(r"[^a-z0-9]+", "_", mode)
    return {"name": "bench_reference", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        "config": {
            "name": f"bench_{key}", "root_id": "", "fail_open": False, "allow_on_headers_stop_iteration": True,
            "vm_config": {"vm_id": f"bench_{key}", "runtime": "envoy.wasm.runtime.v8",
                          "code": {"local": {"filename": str(NOOP_WASM)}}},
            "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": mode}}}}


def build_reference() -> None:
    env = dict(os.environ, CARGO_TARGET_DIR=str(NOOP_TARGET))
    p = subprocess.run(["cargo", "build", "--quiet", "--release", "--target", "wasm32-wasip1", "--manifest-path",
                        str(REPO / "bench" / "noop-filter" / "Cargo.toml")], env=env, capture_output=True, text=True,
                       timeout=600)
    if p.returncode != 0 or not NOOP_WASM.is_file():
        die(f"building bench/noop-filter failed (BENCH_REFERENCE=0 skips it):\n{p.stderr[-3000:]}")


def buffer_filter() -> dict:
    return {"name": "envoy.filters.http.buffer", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer", "max_request_bytes": MiB}}


def jwt_authn_filter() -> dict:
    jwks = {"keys": [{"kty": "oct", "alg": "HS256", "kid": "bench", "k": denials.b64url(JWT_SECRET.encode())}]}
    return {"name": "envoy.filters.http.jwt_authn", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        "providers": {"bench": {
            "issuer": "bench", "local_jwks": {"inline_string": json.dumps(jwks)},
            # Like the plugin: the token stays on the request (jwt_authn removes it by default).
            "forward": True,
            "from_headers": [{"name": "Authorization", "value_prefix": "Bearer "}]}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "bench"}}]}}


def rbac_filter() -> dict:
    principals = []
    for cidr in GITHUB_HOOK_CIDRS:
        addr, plen = cidr.split("/")
        principals.append({"remote_ip": {"address_prefix": addr, "prefix_len": int(plen)}})
    return {"name": "envoy.filters.http.rbac", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
        "rules": {"action": "ALLOW", "policies": {"github-hooks": {
            "permissions": [{"any": True}], "principals": principals}}}}}


def hcm(stat_prefix: str, filters: list, route: dict, *, remote: bool = True) -> dict:
    cfg = {"stat_prefix": stat_prefix, "codec_type": "AUTO",
           "normalize_path": True, "merge_slashes": True,
           "route_config": {"name": stat_prefix, "virtual_hosts": [
               {"name": "all", "domains": ["*"], "routes": [dict(match={"prefix": "/"}, **route)]}]},
           "http_filters": filters + [ROUTER]}
    if remote:
        cfg.update(use_remote_address=True, xff_num_trusted_hops=0)
    cfg["@type"] = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": cfg}


def downstream_tls(certs: Path) -> dict:
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "require_client_certificate": True,
        "common_tls_context": {
            "alpn_protocols": ["h2", "http/1.1"],
            "tls_certificates": [{"certificate_chain": {"filename": str(certs / "server.crt")},
                                  "private_key": {"filename": str(certs / "server.key")}}],
            # Self-signed senders are allowed (Copyleaks): the pin is the trust.
            "validation_context": {"trust_chain_verification": "ACCEPT_UNTRUSTED"}}}}


def envoy_config(admin_path: Path, upstream_sock: Path, certs: Path, thumbprint: str,
                 listeners: list[tuple[str, str]]) -> dict:
    """listeners: (name, kind); one listener per case, named after it, with the filters of its kind."""
    to_upstream = {"route": {"cluster": "upstream", "timeout": "30s"}}
    filters = {
        "floor": [], "guard": [wasm_filter(thumbprint)], "buffer": [buffer_filter()],
        "jwt_authn": [jwt_authn_filter()], "rbac": [rbac_filter()],
        "guard_mtls": [wasm_filter(thumbprint)], "buffer_mtls": [buffer_filter()],
        "native_guard": [native_filter(thumbprint)],
    }
    if BENCH_REFERENCE:
        filters.update(wasm_noop=[reference_filter("noop")], wasm_buffer=[reference_filter("buffer")])
    for name, kind in listeners:
        if kind.startswith("ref:"):
            filters[kind] = [reference_filter(kind[4:])]
        elif kind.startswith("guard="):
            # Another build of the plugin, in a VM of its own (`--hostcalls`: HOSTCALLS="guard=PATH").
            filters[kind] = [wasm_filter(thumbprint, Path(kind[6:]), f"webhook_guard_{name}")]
    ls = []
    for name, kind in listeners:
        chain = {"filters": [hcm(name, filters[kind], to_upstream)]}
        if kind.endswith("_mtls"):
            chain["transport_socket"] = downstream_tls(certs)
        ls.append({"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                   # Above max_body_bytes, as the README asks, for every case alike.
                   "per_connection_buffer_limit_bytes": 2 * MiB,
                   "filter_chains": [chain]})
    # The upstream: this same Envoy on a Unix socket. It reads the whole request (native
    # buffer filter), as an application would, then answers 200 from a direct_response.
    ls.append({"name": "upstream", "address": {"pipe": {"path": str(upstream_sock)}},
               "per_connection_buffer_limit_bytes": 2 * MiB,
               "filter_chains": [{"filters": [hcm(
                   "upstream", [buffer_filter()],
                   {"direct_response": {"status": 200, "body": {"inline_string": "{\"ok\":true}"}}},
                   remote=False)]}]})
    cluster = {
        "name": "upstream", "type": "STATIC", "connect_timeout": "1s",
        "per_connection_buffer_limit_bytes": 2 * MiB,
        "load_assignment": {"cluster_name": "upstream", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"pipe": {"path": str(upstream_sock)}}}}]}]},
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}}}},
        "circuit_breakers": {"thresholds": [{"max_connections": 10000, "max_pending_requests": 10000,
                                             "max_requests": 10000}]},
    }
    return {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
            "static_resources": {"listeners": ls, "clusters": [cluster]}}


# --------------------------------------------------------------------------------------
# The Envoy process.


class Envoy(harness.Envoy):
    """The benchmark's Envoy: the harness's, plus what a measurement reads (every counter
    at once, on-CPU time, RSS) and a log kept bounded between runs."""

    def __init__(self, cfg: dict, workdir: Path):
        super().__init__("bench", cfg, workdir, concurrency=ENVOY_CONCURRENCY, log_level=ENVOY_LOG_LEVEL,
                         wasm_log_level=ENVOY_LOG_LEVEL)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = START_TIMEOUT) -> "Envoy":
        try:
            super().wait_ready(timeout)
        except harness.EnvoyFailedToStart as e:
            die(str(e))
        return self

    def get(self, path: str, timeout: float = 5) -> str:
        with urllib.request.urlopen(self.admin + path, timeout=timeout) as r:
            return r.read().decode()

    def counters(self) -> dict[str, int]:
        """Every counter and gauge by its raw name (one admin call, made outside a
        measured window)."""
        out: dict[str, int] = {}
        for s in json.loads(self.get("/stats?format=json"))["stats"]:
            if "name" in s and isinstance(s.get("value"), int):
                out[s["name"]] = s["value"]
        return out

    def settle(self, listener: str, timeout: float = 5.0) -> None:
        """Wait until requests the load generator abandoned at the end of a timed run have
        left Envoy (listener and upstream), so they are not counted in the next run."""
        names = (f"http.{listener}.downstream_rq_active", "http.upstream.downstream_rq_active")
        rx = urllib.request.quote("^http\\.(" + re.escape(listener) + "|upstream)\\.downstream_rq_active$")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = {s["name"]: s.get("value", 0) for s in json.loads(self.get("/stats?format=json&filter=" + rx))["stats"]
                   if "name" in s}
            if all(got.get(n, 0) == 0 for n in names):
                return
            time.sleep(0.05)

    def cpu_ns(self) -> int:
        """On-CPU time of every thread of the process, in ns (schedstat), or utime+stime."""
        total = 0
        try:
            for t in os.listdir(f"/proc/{self.pid}/task"):
                try:
                    with open(f"/proc/{self.pid}/task/{t}/schedstat") as f:
                        total += int(f.read().split()[0])
                except (FileNotFoundError, ProcessLookupError):
                    pass  # a thread that just ended
            if total:
                return total
        except FileNotFoundError:
            pass
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def trim_log(self, limit: int = 64 * MiB) -> None:
        """The refused case logs one warn line per request (as the plugin must): keep the
        file bounded. Only between runs, never inside a measured window."""
        try:
            if self.log_path.stat().st_size > limit:
                os.truncate(self.log_path, 0)
        except OSError:
            pass

    def log_tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            die(f"envoy died (exit {self.proc.returncode}); log:\n{self.log_tail()}")


# --------------------------------------------------------------------------------------
# Load generators.


@dataclass
class LoadResult:
    done: int
    codes: dict[str, int]          # "2xx"/"4xx"... (h2load) or "200"/"403"... (oha)
    errors: int
    rps: float
    latencies_us: list[float] = field(default_factory=list)
    raw: str = ""


def h2load_cmd(c: Case, port: int, body_file: Path) -> list[str]:
    cmd = ["h2load", "-d", str(body_file)]
    for k, v in c.headers:
        cmd += ["-H", f"{k}: {v}"]
    return cmd + [f"http://127.0.0.1:{port}{c.path}"]


def parse_h2load(out: str) -> LoadResult:
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", out)
    s = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    r = re.search(r"finished in [^,]+, ([\d.]+) req/s", out)
    if not (m and s and r):
        die(f"could not parse h2load output:\n{out[-3000:]}")
    done, errored, timeout = int(m.group(3)), int(m.group(6)), int(m.group(7))
    codes = {"2xx": int(s.group(1)), "3xx": int(s.group(2)), "4xx": int(s.group(3)), "5xx": int(s.group(4))}
    return LoadResult(done, codes, errored + timeout, float(r.group(1)), raw=out)


def h2load_secs(seconds: float) -> str:
    """h2load takes whole seconds or a unit (ms)."""
    return f"{int(round(seconds * 1000))}ms"


def run_h2load(c: Case, port: int, body_file: Path, *, duration: float, warmup: float, conns: int, streams: int,
               rps: int = 0, count: int = 0, log_file: Path | None = None) -> LoadResult:
    cmd = h2load_cmd(c, port, body_file)[:-1]
    if count:
        cmd += ["-n", str(count)]
    else:
        cmd += ["-D", h2load_secs(duration)]
        if warmup > 0:
            cmd += ["--warm-up-time", h2load_secs(warmup)]
    cmd += ["-c", str(conns), "-m", str(streams), "-t", "1"]
    if rps:
        cmd += [f"--rps={rps}"]
    if log_file:
        cmd += ["--log-file", str(log_file)]
    cmd.append(f"http://127.0.0.1:{port}{c.path}")
    limit = duration + warmup + RUN_TIMEOUT_SLACK + (count / 50 if count else 0)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        die(f"h2load for {c.name} did not finish in {limit:.0f}s: {' '.join(cmd)}")
    res = parse_h2load(p.stdout + p.stderr)
    if log_file and log_file.exists():
        for line in log_file.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                res.latencies_us.append(float(parts[2]))
    return res


def oha_bin() -> str | None:
    for cand in (os.environ.get("OHA"), shutil.which("oha"), str(Path.home() / ".cargo" / "bin" / "oha")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def run_oha(c: Case, port: int, body_file: Path, certs: Path, *, duration: float, conns: int, streams: int,
            rps: int = 0, count: int = 0) -> LoadResult:
    oha = oha_bin()
    if not oha:
        die("oha not found (bench/setup.sh installs it); BENCH_TLS=0 skips the mTLS cases")
    cmd = [oha, "--no-tui", "--output-format", "json", "--http2", "--insecure",
           "--cert", str(certs / "client.crt"), "--key", str(certs / "client.key"),
           "-m", "POST", "-D", str(body_file), "-c", str(conns), "-p", str(streams)]
    if count:
        cmd += ["-n", str(count)]
    else:
        cmd += ["-z", f"{duration}s", "--wait-ongoing-requests-after-deadline"]
    if rps:
        cmd += ["-q", str(rps)]
    for k, v in c.headers:
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(f"https://127.0.0.1:{port}{c.path}")
    limit = duration + RUN_TIMEOUT_SLACK + (count / 50 if count else 0)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        die(f"oha for {c.name} did not finish in {limit:.0f}s")
    try:
        j = json.loads(p.stdout)
    except json.JSONDecodeError:
        die(f"could not parse oha output (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    codes = {str(k): int(v) for k, v in (j.get("statusCodeDistribution") or {}).items()}
    # Requests cut off by the end of a timed run are not errors (h2load drops them silently).
    errors = sum(int(v) for k, v in (j.get("errorDistribution") or {}).items() if "deadline" not in k)
    done = sum(codes.values())
    res = LoadResult(done, codes, errors, float(j["summary"].get("requestsPerSec") or 0.0), raw=p.stdout)
    pct = j.get("latencyPercentiles") or {}
    res.latencies_us = []  # oha gives percentiles directly
    res.pcts = {k: (v * 1e6 if v is not None else None) for k, v in pct.items()}  # type: ignore[attr-defined]
    return res


# --------------------------------------------------------------------------------------
# Probes: the exact status of one request per case, before any load.


def probe(c: Case, port: int, body: bytes, certs: Path, *, send_body: bool = True,
          headers: list[tuple[str, str]] | None = None, client: str = "client") -> tuple[int, bytes]:
    headers = c.headers if headers is None else headers
    if c.tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(str(certs / f"{client}.crt"), str(certs / f"{client}.key"))
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        if send_body:
            conn.request("POST", c.path, body=body, headers=dict(headers))
        else:
            # Headers only, the declared body never sent: a header-stage refusal answers anyway.
            conn.putrequest("POST", c.path)
            for k, v in headers + [("content-length", str(len(body)))]:
                conn.putheader(k, v)
            conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def negative_probes(cases: dict[str, Case], envoy: Envoy, bodies: dict, certs: Path) -> None:
    """The checks being measured really run: a forged request to each guarded case (and to
    jwt_authn) is refused. A filter that let everything through would be fast and useless."""

    def swap(headers, name, value):
        return [(k, value if k == name else v) for k, v in headers]

    def expect(c: Case, want: int, what: str, **kw) -> None:
        status, body = probe(c, envoy.ports[c.name], kw.pop("body", bodies[c.body]), certs, **kw)
        if status != want:
            die(f"negative probe {c.name} ({what}): got {status} {body[:200]!r}, expected {want}")

    for name in ("gh_1k", "gh_64k", "gh_1m"):
        if name in cases:
            c = cases[name]
            expect(c, 401, "wrong signature", headers=swap(c.headers, "x-hub-signature-256", "sha256=" + "0" * 64))
            expect(c, 401, "body changed", body=bodies[c.body][:-2] + b" }")
    for name in ("jwt", "jwt_authn"):
        if name in cases:
            c = cases[name]
            token = dict(c.headers)["authorization"]
            expect(c, 401, "tampered token", headers=swap(c.headers, "authorization", token[:-2] + "AA"))
    if "copyleaks" in cases:
        c = cases["copyleaks"]
        make_cert(certs, "other", "bench-unpinned-sender")
        expect(c, 403, "unpinned client certificate", client="other")
        expect(c, 401, "wrong developerPayload",
               body=bodies[c.body].replace(DEVELOPER_PAYLOAD.encode(), b"x" * len(DEVELOPER_PAYLOAD)))


# --------------------------------------------------------------------------------------
# Measurement.


@dataclass
class Sample:
    case: str
    round: int
    cpu_us_per_req: float
    rps: float
    requests: int


def delta(before: dict, after: dict, name: str) -> int:
    return after.get(name, 0) - before.get(name, 0)


def verify_run(c: Case, res: LoadResult, before: dict, after: dict, envoy: Envoy, in_flight: int = 0) -> int:
    """Status codes and counters must say the case did what it claims; returns Envoy's
    completed-request count for the listener."""
    where = f"case {c.name}"
    completed = delta(before, after, f"http.{c.name}.downstream_rq_completed")
    if res.done <= 0 or completed <= 0:
        die(f"{where}: no request completed (load generator: {res.done}, envoy: {completed})\n{res.raw[-2000:]}")
    if res.errors:
        die(f"{where}: {res.errors} requests errored or timed out\n{res.raw[-2000:]}")
    want = "2xx" if c.expect == 200 else "4xx"
    if c.tls:
        good = res.codes.get(str(c.expect), 0)
    else:
        good = res.codes.get(want, 0)
    if good != res.done:
        die(f"{where}: expected every response to be {c.expect}, got {res.codes} of {res.done} "
            f"(a benchmark of wrong answers measures nothing)\n{res.raw[-1500:]}")
    for cls in ("1xx", "2xx", "3xx", "4xx", "5xx"):
        d = delta(before, after, f"http.{c.name}.downstream_rq_{cls}")
        if cls == want and d != completed:
            die(f"{where}: envoy answered {d} of {completed} requests with {cls}")
        if cls != want and d:
            die(f"{where}: envoy answered {d} requests with {cls} (want only {want})")
    # A timed run ends with up to conns x streams requests in flight, which the load
    # generator abandons: the filter may have counted them, the listener not completed them.
    slack = in_flight
    for stat, how in c.checks:
        d = delta(before, after, stat)
        if how == "all" and not completed <= d <= completed + slack:
            die(f"{where}: {stat} went up by {d}, expected {completed} (one per request)")
        if how == "none" and d != 0:
            die(f"{where}: {stat} went up by {d}, expected 0")
    if c.name.startswith(("gh_", "jwt", "refused", "copyleaks")):
        denied = {k: delta(before, after, k) for k in after
                  if k.startswith("wasmcustom.webhook_guard.") and ".denied." in k
                  and not k.endswith("refused.denied.ip_not_allowed")}
        denied = {k: v for k, v in denied.items() if v}
        if denied:
            die(f"{where}: the plugin denied requests: {denied}")
    envoy.check_alive()
    return completed


def measure(c: Case, envoy: Envoy, files: dict, certs: Path, rnd: int) -> Sample:
    port = envoy.ports[c.name]
    before = envoy.counters()
    cpu0 = envoy.cpu_ns()
    if c.tls:
        res = run_oha(c, port, files[c.body], certs, duration=DURATION, conns=CONNECTIONS, streams=STREAMS)
    else:
        res = run_h2load(c, port, files[c.body], duration=DURATION, warmup=WARMUP, conns=CONNECTIONS,
                         streams=STREAMS)
    envoy.settle(c.name)
    cpu1 = envoy.cpu_ns()
    after = envoy.counters()
    n = verify_run(c, res, before, after, envoy, CONNECTIONS * STREAMS)
    envoy.trim_log()
    return Sample(c.name, rnd, (cpu1 - cpu0) / 1000 / n, res.rps, n)


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def latency(c: Case, envoy: Envoy, files: dict, certs: Path) -> tuple[float, float]:
    port = envoy.ports[c.name]
    before = envoy.counters()
    if c.tls:
        res = run_oha(c, port, files[c.body], certs, duration=LAT_DURATION, conns=1, streams=1, rps=LAT_RPS)
        envoy.settle(c.name)
        verify_run(c, res, before, envoy.counters(), envoy, 1)
        p = res.pcts  # type: ignore[attr-defined]
        return p.get("p50", float("nan")), p.get("p99", float("nan"))
    log = WORK / f"latency-{c.name}.log"
    log.unlink(missing_ok=True)
    res = run_h2load(c, port, files[c.body], duration=LAT_DURATION, warmup=0, conns=1, streams=1, rps=LAT_RPS,
                     log_file=log)
    envoy.settle(c.name)
    verify_run(c, res, before, envoy.counters(), envoy, 1)
    return percentile(res.latencies_us, 50), percentile(res.latencies_us, 99)


def memory_check(envoy: Envoy, cases: dict, files: dict) -> dict:
    c = cases["gh_1m"]
    port = envoy.ports[c.name]

    def batch(n: int) -> None:
        before = envoy.counters()
        res = run_h2load(c, port, files[c.body], duration=0, warmup=0, conns=CONNECTIONS, streams=STREAMS, count=n)
        verify_run(c, res, before, envoy.counters(), envoy)

    def snap() -> tuple[int, int]:
        envoy.settle(c.name)
        time.sleep(1.0)  # let in-flight buffers drain
        # The admin /memory endpoint reads the allocator now; the server.memory_allocated
        # stat holds the same number but is refreshed only at each stats flush (5 s), so it
        # can show a moment in the middle of the last batch.
        return envoy.rss_bytes(), int(json.loads(envoy.get("/memory"))["allocated"])

    warm = max(CONNECTIONS * STREAMS * 2, 20)
    batch(warm)
    first = snap()
    batch(MEM_REQUESTS)
    mid = snap()
    batch(MEM_REQUESTS)
    last = snap()
    rss_growth = last[0] - first[0]
    alloc_growth = last[1] - first[1]
    return {"warm_requests": warm, "requests": 2 * MEM_REQUESTS,
            "rss": [first[0], mid[0], last[0]], "allocated": [first[1], mid[1], last[1]],
            "rss_growth": rss_growth, "allocated_growth": alloc_growth,
            "pass": rss_growth <= MEM_TOLERANCE and alloc_growth <= MEM_TOLERANCE}


# --------------------------------------------------------------------------------------
# Report.


def machine_info() -> dict:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def out(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=REPO).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    envoy_v = out([str(ENVOY_BIN), "--version"])
    m = re.search(r"/(\d+\.\d+\.\d+)/", envoy_v)
    commit = out(["git", "rev-parse", "--short", "HEAD"])
    dirty = out(["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "Cargo.toml", "Cargo.lock"])
    oha = oha_bin()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(), "cpu": model, "kernel": platform.release(),
        "envoy": m.group(1) if m else envoy_v, "h2load": out(["h2load", "--version"]),
        "oha": out([oha, "--version"]) if oha else "not installed",
        "commit": os.environ.get("BENCH_PLUGIN_LABEL") or (commit + (" (plugin sources modified)" if dirty else "")),
        "wasm": str(WASM),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def fmt_us(v: float) -> str:
    return "-" if v != v else (f"{v:.0f}" if v >= 100 else f"{v:.1f}")


def fmt_ms(v: float | None) -> str:
    return "-" if v is None or v != v else f"{v / 1000:.2f}"


def main_bench() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    certs = WORK / "certs"
    certs.mkdir(exist_ok=True)
    if not WASM.is_file():
        die(f"{WASM} is missing: run `make build` (or `make bench`)")
    if not ENVOY_BIN.is_file():
        die(f"{ENVOY_BIN} is missing: run `make setup`")
    use_native_module()
    if not shutil.which("h2load"):
        die("h2load is missing: bench/setup.sh installs it (Debian nghttp2-client)")
    global BENCH_TLS
    if BENCH_TLS and not oha_bin():
        say("bench: WARNING: oha not found, the mTLS (Copyleaks) cases are SKIPPED")
        BENCH_TLS = False
    thumb, bodies, files, cases = prepare(certs)
    by_name = {c.name: c for c in cases}

    info = machine_info()
    info["wasm_bytes"] = WASM.stat().st_size
    say(f"bench: {info['nproc']} x {info['cpu']}, kernel {info['kernel']}, Envoy {info['envoy']}, "
        f"load average {' '.join(info['loadavg_start'])}")
    say(f"bench: {len(cases)} cases x {ROUNDS} rounds x {DURATION}s (+{WARMUP}s warm-up), "
        f"h2load -c {CONNECTIONS} -m {STREAMS}, Envoy --concurrency {ENVOY_CONCURRENCY}")

    sock = Path(f"/tmp/webhook-guard-bench-{os.getpid()}.sock")
    cfg = envoy_config(WORK / "admin-address", sock, certs, thumb, [(c.name, c.listener) for c in cases])
    envoy = Envoy(cfg, WORK).wait_ready()
    try:
        # Every case answers as it should before anything is measured.
        for c in cases:
            status, body = probe(c, envoy.ports[c.name], bodies[c.body], certs)
            if status != c.expect:
                die(f"probe {c.name}: got {status} {body[:200]!r}, expected {c.expect}\n{envoy.log_tail(2000)}")
            if c.expect == 403 and c.name == "refused":
                status, _ = probe(c, envoy.ports[c.name], bodies[c.body], certs, send_body=False)
                if status != 403:
                    die(f"probe {c.name}: headers without the body got {status}, expected 403 at the header stage")
        negative_probes(by_name, envoy, bodies, certs)
        say("bench: probes ok (guarded cases 200, refused cases 403 before the body; forged requests refused)")

        samples: list[Sample] = []
        t0 = time.monotonic()
        for rnd in range(ROUNDS):
            for c in cases:
                s = measure(c, envoy, files, certs, rnd)
                samples.append(s)
            say(f"bench: round {rnd + 1}/{ROUNDS} done ({time.monotonic() - t0:.0f}s)")

        lat: dict[str, tuple[float, float]] = {}
        if LAT_RPS > 0 and LAT_DURATION > 0:
            for c in cases:
                lat[c.name] = latency(c, envoy, files, certs)
            say(f"bench: latency at {LAT_RPS} req/s done")

        mem = None
        if MEM_REQUESTS > 0 and "gh_1m" in by_name:
            mem = memory_check(envoy, by_name, files)
            say("bench: memory check done")
        info["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    finally:
        envoy.stop()
        sock.unlink(missing_ok=True)

    report = summarize(cases, samples, lat, mem, info)
    print()
    print(report["table"])
    print()
    print(report["targets"])
    (WORK / "results.json").write_text(json.dumps({
        "info": info, "samples": [s.__dict__ for s in samples], "latency_us": lat, "memory": mem,
        "summary": report["rows"], "targets": report["target_rows"],
        "settings": {"ROUNDS": ROUNDS, "DURATION": DURATION, "WARMUP": WARMUP, "CONNECTIONS": CONNECTIONS,
                     "STREAMS": STREAMS, "ENVOY_CONCURRENCY": ENVOY_CONCURRENCY, "LAT_RPS": LAT_RPS,
                     "MEM_REQUESTS": MEM_REQUESTS}}, indent=1))
    if BENCH_OUT:
        write_markdown(Path(BENCH_OUT), report, info)
        say(f"\nbench: wrote {BENCH_OUT} and {WORK / 'results.json'}")
    failed = [t for t in report["target_rows"] if t["pass"] is False]
    if failed and STRICT:
        say(f"bench: {len(failed)} target(s) missed (STRICT=1)")
        return 2
    return 0


def summarize(cases: list[Case], samples: list[Sample], lat: dict, mem: dict | None, info: dict) -> dict:
    per: dict[str, list[Sample]] = {}
    for s in samples:
        per.setdefault(s.case, []).append(s)
    by_round = {(s.case, s.round): s for s in samples}
    rows = []
    ratios: dict[str, float] = {}
    for c in cases:
        ss = per.get(c.name, [])
        cpu = statistics.median(s.cpu_us_per_req for s in ss) if ss else float("nan")
        rps = statistics.median(s.rps for s in ss) if ss else float("nan")
        ratio = diff = None
        if c.native:
            pairs = [(by_round[(c.name, r)].cpu_us_per_req, by_round[(c.native, r)].cpu_us_per_req)
                     for r in range(ROUNDS) if (c.name, r) in by_round and (c.native, r) in by_round]
            ratio = statistics.median(a / b for a, b in pairs) if pairs else None
            diff = statistics.median(a - b for a, b in pairs) if pairs else None
            if ratio is not None:
                ratios[c.name] = ratio
        p50, p99 = lat.get(c.name, (float("nan"), float("nan")))
        rows.append({"case": c.name, "desc": c.desc, "rps": rps, "cpu_us": cpu, "native": c.native,
                     "ratio": ratio, "diff_us": diff, "p50_us": p50, "p99_us": p99, "target": c.target,
                     "pass": (ratio <= (c.limit or TARGET_RATIOS.get(c.name, TARGET_RATIO)))
                     if (c.target and ratio is not None) else None,
                     "cpu_spread": (min(s.cpu_us_per_req for s in ss), max(s.cpu_us_per_req for s in ss)) if ss else None})

    head = ["case", "what", "req/s", "CPU us/req", "vs native", "+us/req", "p50 ms", "p99 ms", "target", ""]
    table_rows = []
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x {r['native']}"
        verdict = "" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
        plus = "-" if r["diff_us"] is None else f"{r['diff_us']:+.1f}"
        table_rows.append([r["case"], r["desc"], f"{r['rps']:.0f}", fmt_us(r["cpu_us"]), ratio, plus,
                           fmt_ms(r["p50_us"]), fmt_ms(r["p99_us"]), r["target"], verdict])

    # Targets.
    targets = []

    def add(name: str, value: str, target: str, ok: bool | None, note: str = "") -> None:
        targets.append({"target": name, "value": value, "goal": target, "pass": ok, "note": note})

    for case, label, limit in (
            ("allow_ip", "ip_allowlist only vs no filter", TARGET_RATIOS["allow_ip"]),
            ("gh_1k", "GitHub 1 KiB vs native buffer", TARGET_RATIOS["gh_1k"]),
            ("jwt", "JWT HS256 vs native jwt_authn", TARGET_RATIOS["jwt"]),
            ("refused", "refused at headers vs native rbac", TARGET_RATIOS["refused"]),
            ("native_gh_1k", "native module: GitHub 1 KiB vs native buffer", 1.10),
            ("native_jwt", "native module: JWT HS256 vs native jwt_authn", 1.05),
            ("native_refused", "native module: refused at headers vs native rbac", 1.10)):
        if case in ratios:
            add(label, f"{ratios[case]:.2f}x", f"<= {limit:.2f}x", ratios[case] <= limit,
                "refused before the body: checked by a probe sending the headers only" if case.endswith("refused")
                else "")
    for case, label, goal in (("gh_1m", "HMAC at 1 MiB (CPU of guard minus buffer)", TARGET_HMAC_MBPS),
                              ("native_gh_1m", "native module: HMAC at 1 MiB (CPU minus buffer)", TARGET_NATIVE_HMAC_MBPS)):
        if case not in per or "buf_1m" not in per:
            continue
        deltas = [by_round[(case, r)].cpu_us_per_req - by_round[("buf_1m", r)].cpu_us_per_req
                  for r in range(ROUNDS) if (case, r) in by_round and ("buf_1m", r) in by_round]
        d = statistics.median(deltas)
        mbps = (MiB / 1e6) / (d / 1e6) if d > 0 else float("inf")
        add(label, f"{mbps:.0f} MB/s ({d:.0f} us per MiB)", f">= {goal:.0f} MB/s",
            mbps >= goal, "everything the filter adds per 1 MiB request, so a lower bound on the HMAC")
    if mem:
        add("memory after 1 MiB requests", f"RSS {mem['rss_growth'] / MiB:+.1f} MiB, allocated "
            f"{mem['allocated_growth'] / MiB:+.1f} MiB over {mem['requests']} requests", "flat (<= "
            f"{MEM_TOLERANCE // MiB} MiB)", mem["pass"],
            f"RSS {' -> '.join(f'{x / MiB:.0f}' for x in mem['rss'])} MiB; allocated (server.memory_allocated, read live from /memory) "
            f"{' -> '.join(f'{x / MiB:.1f}' for x in mem['allocated'])} MiB")
    w = info["wasm_bytes"]
    add("plugin size", f"{w / KiB:.0f} KiB ({w} bytes)", "<= 768 KiB", w <= TARGET_WASM_BYTES)

    def render(head, body) -> str:
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
        line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
        return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in body])

    t_head = ["target", "measured", "goal", ""]
    t_rows = [[t["target"], t["value"], t["goal"], "-" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")]
              for t in targets]
    return {"rows": rows, "target_rows": targets, "table": render(head, table_rows),
            "targets": render(t_head, t_rows), "md_head": head, "md_rows": table_rows,
            "md_t_head": t_head, "md_t_rows": t_rows}


def md_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(out)


def write_markdown(path: Path, report: dict, info: dict) -> None:
    recipe = (REPO / "bench" / "PROFILING.md")

    def core_section() -> str:
        # The core's cost per request (`make bench-core`, written by hand from its output),
        # carried over.
        core = REPO / "bench" / "CORE.md"
        return core.read_text() + "\n" if core.exists() else ""

    def soak_section() -> str:
        # The latest `make soak` results of each edition (bench/soak.py writes them),
        # carried over.
        soaks = [REPO / "bench" / "SOAK.md", REPO / "bench" / "SOAK-native.md"]
        return "".join("\n" + soak.read_text() for soak in soaks if soak.exists())
    settings = (f"ROUNDS={ROUNDS} DURATION={DURATION}s WARMUP={WARMUP}s CONNECTIONS={CONNECTIONS} "
                f"STREAMS={STREAMS} ENVOY_CONCURRENCY={ENVOY_CONCURRENCY} LAT_RPS={LAT_RPS} "
                f"MEM_REQUESTS={MEM_REQUESTS}")
    text = f"""# Benchmarks

webhook-guard measured side by side with native Envoy filters doing comparable work, by
`make bench` (`bench/run.py`; how it measures is described there and in
[How it measures](#how-it-measures)). This file is rewritten by every run; the numbers
below are the latest run's.

## Latest run

{info['date']}: {info['nproc']} x {info['cpu']}, Linux {info['kernel']}, Envoy {info['envoy']}
(`.venv/bin/envoy`), {info['h2load']}, oha: {info['oha']}. Plugin at {info['commit']}.
Load average {' '.join(info['loadavg_start'])} at the start, {' '.join(info.get('loadavg_end', ['?']))} at the end
(a shared machine: other work ran at the same time, so read ratios, not absolute numbers).
Settings: {settings}.

{md_table(report['md_head'], report['md_rows'])}

req/s and CPU are medians over the rounds; "vs native" is the median of the per-round
ratios of CPU per request (guarded case / its native counterpart in the same round), and
"+us/req" the median of the per-round differences (the CPU the case adds per request);
p50/p99 are at a fixed {LAT_RPS} req/s with one connection. The two mTLS rows are driven
by oha (h2load cannot present a client certificate), all others by h2load.

### Targets

{md_table(report['md_t_head'], report['md_t_rows'])}

{chr(10).join('- ' + t['target'] + ': ' + t['note'] for t in report['target_rows'] if t['note'])}

## How it measures

- One Envoy process (`--concurrency {ENVOY_CONCURRENCY}`, log level `{ENVOY_LOG_LEVEL}` so the
  plugin's one warn line per denial is written, as in production), one listener per case
  (named after it), all routing to one upstream: a listener of the same Envoy on a Unix
  socket that reads the whole request (native buffer filter) and answers `200` from a
  `direct_response`, over HTTP/2. Every case does the same proxying to the same upstream;
  only the filter before the router differs. The guarded listeners share one plugin
  configuration (routes `github`, `ip-only`, `jwt`, `refused`, `copyleaks`). The rendered
  config is kept in `.work/bench/envoy.yaml`.
- The `reference` rows are not webhook-guard: `bench/noop-filter` is a Rust proxy-wasm
  filter (same SDK, same release profile) that does nothing, or only holds the headers
  until the body is complete. They show what any Wasm filter costs in this Envoy, so the
  plugin's own share is the difference: `allow_ip` minus `wasm_noop` is the plugin's
  fixed cost per request, `gh_1k` minus `wasm_buf_1k` its cost for a signed 1 KiB body.
  `bench/run.py --hostcalls` prices each host operation the plugin does per request the
  same way (see Profiling).
- Because the upstream lives in the same process, every case's CPU includes the upstream's
  share. It is the same for every forwarded case, so the differences (`+us/req`) are
  exact, but the ratios are diluted by it: with the upstream in another process they
  would be larger. The refused cases forward nothing, so their ratio is undiluted. The
  `floor` row shows the shared base.
- CPU per request: the sum of `/proc/<envoy>/task/*/schedstat` (on-CPU ns of every Envoy
  thread) before and after each run, divided by the requests that listener completed
  (Envoy's `http.<listener>.downstream_rq_completed`). Stats are read outside the measured
  window.
- Rounds are interleaved (every case once per round, same order); each guarded case is
  compared with its native counterpart of the same round, and the median of those ratios is
  reported, because the machine is shared and noisy.
- Correctness is checked on every run, not assumed: every response must have the expected
  status (h2load/oha status counts and Envoy's per-listener response classes), the plugin's
  `allowed` / `denied.ip_not_allowed` counters, `jwt_authn.allowed` and `rbac.denied` must
  have gone up once per request, the upstream must have received every guarded request and
  none of the refused ones, and the plugin must have denied nothing else. Before the rounds
  a probe per case checks the exact status code, and the refused case is also sent its
  headers without the body: it must still be answered `403` (refused before the body).
- Signed bodies are fixed JSON documents of exactly 1 KiB, 64 KiB and 1 MiB, signed once
  (`X-Hub-Signature-256`); the JWT is HS256 with `exp` in 2100, verified by the plugin
  with the same secret that `jwt_authn` gets as a local JWKS `oct` key; `jwt_authn`
  forwards the token (like the plugin) and has no JWT cache configured (the plugin has
  none either).
- The HMAC throughput is derived: median over rounds of (CPU per 1 MiB request through
  the plugin) minus (CPU per 1 MiB request through the native buffer filter). That
  difference holds everything the plugin does for such a request (copying the body into
  the Wasm VM, hashing, the rest), so the HMAC itself is at least this fast.
- Memory: Envoy's RSS (`/proc/<pid>/status`) and `server.memory_allocated` (read live from
  the admin `/memory` endpoint, since the stat itself is refreshed only every stats flush) after
  {max(CONNECTIONS * STREAMS * 2, 20)} 1 MiB requests, then after {MEM_REQUESTS} and {2 * MEM_REQUESTS} more
  (the same concurrency, so the Wasm VM's memory has reached its high-water mark first).

## Running it

```sh
make bench                                   # ~4 minutes on 2 cores with the defaults
ROUNDS=9 DURATION=5 make bench               # steadier numbers on a quiet machine
CASES=gh_1k,jwt make bench                   # a subset (native counterparts come along)
BENCH_TLS=0 make bench                       # without oha / the mTLS cases
STRICT=1 make bench                          # non-zero exit when a target is missed
```

`make bench` installs h2load (Debian `nghttp2-client`) and oha (`cargo install oha`, once,
a few minutes) when they are missing, builds the plugin (`cargo build --release --target
wasm32-wasip1`) and runs `bench/run.py`. A wrong answer (a 401 where a 200 was expected,
a refused request that reached the upstream) stops the run with an error: a benchmark of
errors measures nothing. Knobs are listed at the top of `bench/run.py`.

{core_section()}{recipe.read_text() if recipe.exists() else ''}{soak_section()}"""
    path.write_text(text)


# --------------------------------------------------------------------------------------
def prepare(certs: Path):
    """What every run needs before Envoy starts: the TLS certificates (and the client's
    pin), the request bodies (in memory and on disk), their GitHub signatures and a JWT,
    and the cases."""
    make_cert(certs, "server", "bench-server")
    thumb = make_cert(certs, "client", "bench-copyleaks-sender").sha256
    if BENCH_REFERENCE:
        build_reference()
    bodies = {"1k": json_body(KiB), "64k": json_body(64 * KiB), "1m": json_body(MiB),
              "copyleaks": json_body(KiB, {"developerPayload": DEVELOPER_PAYLOAD,
                                           "scannedDocument": {"scanId": "bench-scan-1"}})}
    files = {}
    for k, b in bodies.items():
        files[k] = WORK / f"body-{k}.json"
        files[k].write_bytes(b)
    fx = {"sig": {k: hmac.new(GITHUB_SECRET.encode(), b, hashlib.sha256).hexdigest() for k, b in bodies.items()},
          "jwt": make_jwt(JWT_SECRET)}
    return thumb, bodies, files, build_cases(fx)


# Profiling one case under perf.


def main_profile(case_name: str, seconds: float) -> int:
    use_native_module()
    global DURATION
    WORK.mkdir(parents=True, exist_ok=True)
    certs = WORK / "certs"
    certs.mkdir(exist_ok=True)
    thumb, _, files, case_list = prepare(certs)
    cases = {c.name: c for c in case_list}
    if case_name not in cases:
        die(f"unknown case {case_name}; known: {sorted(cases)}")
    c = cases[case_name]
    if not shutil.which("perf"):
        die("perf is missing: apt-get install linux-perf")
    sock = Path(f"/tmp/webhook-guard-bench-{os.getpid()}.sock")
    cfg = envoy_config(WORK / "admin-address", sock, certs, thumb, [(x.name, x.listener) for x in cases.values()])
    envoy = Envoy(cfg, WORK).wait_ready()
    data = WORK / f"perf-{case_name}.data"
    try:
        perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-p", str(envoy.pid),
                                 "-o", str(data), "--", "sleep", str(seconds)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if c.tls:
            run_oha(c, envoy.ports[c.name], files[c.body], certs, duration=seconds, conns=CONNECTIONS,
                    streams=STREAMS)
        else:
            run_h2load(c, envoy.ports[c.name], files[c.body], duration=seconds, warmup=0, conns=CONNECTIONS,
                       streams=STREAMS)
        try:
            _, err = perf.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            perf.kill()
            die("perf record did not finish")
        if perf.returncode != 0:
            die(f"perf record failed: {err[-1500:]}")
    finally:
        envoy.stop()
        sock.unlink(missing_ok=True)
    rep = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "dso,symbol",
                          "--stdio", "-g", "none", "--percent-limit", "0.7"],
                         capture_output=True, text=True, timeout=300)
    print("\n".join(line for line in rep.stdout.splitlines() if line and not line.startswith("#"))[:12000])
    say(f"\nbench: profile in {data} (perf report -i {data})")
    return 0


# The plugin's per-request host operations, each priced alone with the reference filter.
HOSTCALL_PROBES = [
    ("noop", "nothing (baseline of this table)"),
    ("remove_header", "remove one request header"),
    ("headers", "read the whole request header map (SDK: a copy per header)"),
    ("headers_raw", "read the whole request header map as one buffer"),
    ("header1", "read one request header"),
    ("header5", "read five request headers one by one"),
    ("property", "read source.address"),
    ("time", "read the clock"),
    ("metric", "increment a counter (id cached)"),
    ("set_header", "set one request header"),
    ("filter_state", "set the access log's filter state (3 properties)"),
    ("remove_header,headers_raw,property,time,metric,set_header,filter_state", "all of the above that an allowed request does"),
    ("log_warn", "one warn log line (a denial's)"),
    ("buffer", "hold headers until the body is complete"),
    ("body", "hold, then copy the 1 KiB body into the VM"),
    ("gh_path", "body, and every host call of an allowed GitHub request"),
    ("gh_path,hmac", "gh_path, and HMAC-SHA256 of the body in the VM"),
    ("guard", "webhook-guard itself, GitHub + IP 1 KiB (gh_1k)"),
]


def main_hostcalls() -> int:
    """Price each host operation the plugin does per request: reference filter doing just that
    vs the same filter doing nothing, interleaved rounds, median of paired differences."""
    WORK.mkdir(parents=True, exist_ok=True)
    build_reference()
    body = json_body(KiB)
    files = {"1k": WORK / "body-1k.json"}
    files["1k"].write_bytes(body)
    sig = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = [("content-type", "application/json"), ("x-github-event", "push"), ("x-hub-signature-256", "sha256=" + sig)]
    fwd = ("http.upstream.downstream_rq_2xx", "all")
    # HOSTCALLS="noop;body;guard" runs only those rows (`noop` always: the baseline).
    only = [x.strip() for x in os.environ.get("HOSTCALLS", "").split(";") if x.strip()]
    probes = [(ops, desc) for ops, desc in HOSTCALL_PROBES if not only or ops == "noop" or ops in only]
    probes += [(x, "webhook-guard built as " + x[6:]) for x in only if x.startswith("guard=")]
    cases = [Case(f"ref{i}", ops if ops.startswith("guard") else f"ref:{ops}", "/hooks/github", "1k", headers,
                  checks=[fwd], desc=desc) for i, (ops, desc) in enumerate(probes)]
    certs = WORK / "certs"
    sock = Path(f"/tmp/webhook-guard-bench-{os.getpid()}.sock")
    cfg = envoy_config(WORK / "admin-address", sock, certs, "00" * 32, [(c.name, c.listener) for c in cases])
    envoy = Envoy(cfg, WORK).wait_ready()
    samples: list[Sample] = []
    try:
        for c in cases:
            status, got = probe(c, envoy.ports[c.name], body, certs)
            if status != 200:
                die(f"probe {c.listener}: {status} {got[:200]!r}")
        for rnd in range(ROUNDS):
            for c in cases:
                samples.append(measure(c, envoy, files, certs, rnd))
            say(f"bench: round {rnd + 1}/{ROUNDS} done")
    finally:
        envoy.stop()
        sock.unlink(missing_ok=True)
    by = {(s.case, s.round): s.cpu_us_per_req for s in samples}
    print(f"\nEnvoy CPU per request added by one host operation (median over {ROUNDS} rounds, vs `noop`):\n")
    print(f"{'operation':58} {'what':48} {'us/req':>7}")
    for c in cases:
        d = statistics.median(by[(c.name, r)] - by[("ref0", r)] for r in range(ROUNDS))
        absolute = statistics.median(by[(c.name, r)] for r in range(ROUNDS))
        print(f"{c.listener.removeprefix('ref:'):58} {c.desc:48} {d:7.2f}" + (f"   (absolute {absolute:.1f})" if c.name == "ref0" else ""))
    return 0


def use_native_module() -> None:
    """Envoy finds the native module through its environment, and the module its secrets
    there (the Wasm plugin has them in its vm_config)."""
    if not BENCH_NATIVE:
        return
    lib = NATIVE_DIR / "libwebhook_guard.so"
    if not lib.is_file():
        die(f"{lib} is missing: run `make native` (or BENCH_NATIVE=0)")
    os.environ.update(ENVOY_DYNAMIC_MODULES_SEARCH_PATH=str(NATIVE_DIR), GITHUB_WEBHOOK_SECRET=GITHUB_SECRET,
                      JWT_SECRET=JWT_SECRET, COPYLEAKS_DEVELOPER_PAYLOAD=DEVELOPER_PAYLOAD)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hostcalls", action="store_true", help="price each host operation with the reference filter")
    ap.add_argument("--profile", metavar="CASE", help="profile one case under perf instead of benchmarking")
    ap.add_argument("--seconds", type=float, default=10.0, help="profile duration (default 10)")
    args = ap.parse_args()
    if args.hostcalls:
        return main_hostcalls()
    if args.profile:
        return main_profile(args.profile, args.seconds)
    return main_bench()


if __name__ == "__main__":
    sys.exit(main())
