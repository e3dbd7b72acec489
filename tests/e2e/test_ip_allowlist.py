"""ip_allowlist (SPEC 2, 3, 4, 5): IPv4 and IPv6 CIDRs against the address Envoy reports;
another loopback address is another client; X-Forwarded-For is not a way in with
use_remote_address: true, and with xff_num_trusted_hops: 1 the client is the address the
trusted proxy appended.

Envoy facts these tests rely on (Envoy 1.40):
- use_remote_address: true, xff_num_trusted_hops: 0 (the demo): the client is the TCP peer;
  X-Forwarded-For and friends are ignored.
- use_remote_address: true, xff_num_trusted_hops: N > 0: the client is the N-th address
  from the right of X-Forwarded-For as received (N=1: the rightmost, the one the trusted
  proxy appended), taken with port 0; with fewer than N entries it falls back to the TCP
  peer. Envoy then appends to X-Forwarded-For (its own non-loopback local address when
  the peer is a loopback address, so the appended value depends on the host).
"""

from __future__ import annotations

import pytest

import denials
import harness
from denials import FORBIDDEN

BODY = b'{"event":"ping"}'


def route(name: str, prefix: str, cidrs: list[str]) -> dict:
    return {"name": name, "match": {"path_prefix": prefix}, "checks": {"ip_allowlist": {"cidrs": cidrs}}}


POLICY_V4 = {"api": "v1", "routes": [
    route("local", "/hooks/local", ["127.0.0.1/32"]),
    route("loopback", "/hooks/loopback", ["10.0.0.0/8", "127.0.0.0/30"]),
    route("sender", "/hooks/sender", ["203.0.113.7/32"]),
    route("v6only", "/hooks/v6only", ["::1/128", "2001:db8::/32"]),
]}
POLICY_V6 = {"api": "v1", "routes": [
    route("v6range", "/hooks/v6range", ["2001:db8::/32", "::/120"]),
    route("v6host", "/hooks/v6host", ["::1"]),
    route("v4ranges", "/hooks/v4ranges", ["127.0.0.0/8", "0.0.0.0/0"]),
    route("otherv6", "/hooks/otherv6", ["2001:db8::/32", "::2/128"]),
]}
POLICY_HOPS = {"api": "v1", "routes": [
    route("sender", "/hooks/sender", ["203.0.113.7/32"]),
]}


@pytest.fixture(scope="module")
def v4(envoy_factory):
    return envoy_factory.start(POLICY_V4, name="ip-v4", hcm_options=denials.HCM)


@pytest.fixture(scope="module")
def v6(envoy_factory):
    return envoy_factory.start(POLICY_V6, name="ip-v6", hcm_options=denials.HCM, listener=harness.listener_on("::1"))


@pytest.fixture(scope="module")
def dual(envoy_factory):
    # An IPv6 socket that also takes IPv4 (ipv4_compat), as on dual-stack hosts; bound to
    # the IPv4-mapped loopback address only.
    listener = {"address": {"socket_address": {"address": "::ffff:127.0.0.1", "port_value": 0, "ipv4_compat": True}}}
    return envoy_factory.start(POLICY_V4, name="ip-dual", hcm_options=denials.HCM, listener=listener)


@pytest.fixture(scope="module")
def hops(envoy_factory):
    # One trusted proxy (a load balancer) in front: it connects from 127.0.0.1 and
    # appends the address of its own client to X-Forwarded-For.
    return envoy_factory.start(POLICY_HOPS, name="ip-hops1",
                               hcm_options={**denials.HCM, "use_remote_address": True, "xff_num_trusted_hops": 1})


def post(envoy, path, headers=(), *, source=None, target="127.0.0.1", rid=None):
    headers = list(headers)
    if rid:
        headers.append(("X-Request-Id", rid))
    return harness.http1_from(envoy.port, "POST", path, [("Content-Type", "application/json"), *headers], BODY,
                              source=source, target=target)


def assert_forwarded(upstream, resp, path, route_name):
    assert resp.status == 200, (resp.status, resp.body)
    [rec] = upstream.requests()
    assert rec.path == path and rec.body == BODY
    assert rec.header_values("x-webhook-guard") == [f"route={route_name}"]


def assert_refused(envoy, upstream, resp, rid, route_name, client):
    assert resp.status == 403, (resp.status, resp.body)
    assert resp.json() == FORBIDDEN
    assert resp.header("content-type") == "application/json"
    upstream.assert_nothing_reached()
    denials.assert_denial_logged(envoy, rid, route_name, "ip_not_allowed", client)


# ---- IPv4 ----------------------------------------------------------------------------


def test_allowed_ipv4_client_is_forwarded(v4, upstream):
    before = denials.counters(v4, "local.")
    resp = post(v4, "/hooks/local")
    assert_forwarded(upstream, resp, "/hooks/local", "local")
    assert denials.wait_counter_delta(v4, "local", before, {"allowed": 1}) == {"allowed": 1}


def test_another_loopback_client_is_refused(v4, upstream):
    """127.0.0.2 is another client: only 127.0.0.1/32 is allowed."""
    before = denials.counters(v4, "local.")
    rid = denials.request_id("ip-other")
    resp = post(v4, "/hooks/local", source="127.0.0.2", rid=rid)
    assert_refused(v4, upstream, resp, rid, "local", "127.0.0.2")
    moved = denials.wait_counter_delta(v4, "local", before, {"denied.ip_not_allowed": 1})
    assert moved == {"denied.ip_not_allowed": 1}


@pytest.mark.parametrize("source,allowed", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("127.0.0.3", True), ("127.0.0.4", False), ("127.0.1.1", False),
])
def test_ipv4_cidr_range_bounds(v4, upstream, source, allowed):
    """127.0.0.0/30 holds .0 to .3 and nothing else."""
    rid = denials.request_id("ip-range")
    resp = post(v4, "/hooks/loopback", source=source, rid=rid)
    if allowed:
        assert_forwarded(upstream, resp, "/hooks/loopback", "loopback")
        assert not denials.denial_lines(v4, rid)
    else:
        assert_refused(v4, upstream, resp, rid, "loopback", source)


def test_ipv4_client_is_refused_by_ipv6_ranges(v4, upstream):
    rid = denials.request_id("ip-v6only")
    resp = post(v4, "/hooks/v6only", rid=rid)
    assert_refused(v4, upstream, resp, rid, "v6only", "127.0.0.1")


@pytest.mark.parametrize("forged", [
    [("X-Forwarded-For", "203.0.113.7")],
    [("X-Forwarded-For", "198.51.100.1, 203.0.113.7")],
    [("X-Forwarded-For", "203.0.113.7"), ("X-Real-IP", "203.0.113.7"), ("X-Envoy-External-Address", "203.0.113.7"),
     ("Forwarded", "for=203.0.113.7"), ("True-Client-IP", "203.0.113.7")],
], ids=["xff", "xff-chain", "every-header"])
def test_forged_forwarding_headers_do_not_bypass_the_allowlist(v4, upstream, forged):
    """use_remote_address: true with no trusted hops: the client is the TCP peer,
    whatever it writes in its headers."""
    rid = denials.request_id("ip-forged")
    resp = post(v4, "/hooks/sender", forged, rid=rid)
    assert_refused(v4, upstream, resp, rid, "sender", "127.0.0.1")


# ---- IPv6 (listener on [::1]) ----------------------------------------------------------


@pytest.mark.parametrize("path,route_name", [("/hooks/v6range", "v6range"), ("/hooks/v6host", "v6host")])
def test_allowed_ipv6_client_is_forwarded(v6, upstream, path, route_name):
    resp = post(v6, path, target="::1")
    assert_forwarded(upstream, resp, path, route_name)


def test_ipv6_client_is_refused_by_ipv4_ranges(v6, upstream):
    """Even 0.0.0.0/0 is an IPv4 range: it does not hold ::1."""
    rid = denials.request_id("ip-v4ranges")
    resp = post(v6, "/hooks/v4ranges", target="::1", rid=rid)
    assert_refused(v6, upstream, resp, rid, "v4ranges", "::1")


def test_ipv6_client_outside_the_ranges_is_refused(v6, upstream):
    before = denials.counters(v6, "otherv6.")
    rid = denials.request_id("ip-otherv6")
    resp = post(v6, "/hooks/otherv6", target="::1", rid=rid)
    assert_refused(v6, upstream, resp, rid, "otherv6", "::1")
    moved = denials.wait_counter_delta(v6, "otherv6", before, {"denied.ip_not_allowed": 1})
    assert moved == {"denied.ip_not_allowed": 1}


# ---- IPv4 clients on a dual-stack listener ---------------------------------------------------


def test_ipv4_client_on_a_dual_stack_listener_matches_ipv4_ranges(dual, upstream):
    """Envoy reports the client of an ipv4_compat listener as 127.0.0.1 (not
    ::ffff:127.0.0.1), and the IPv4 ranges apply."""
    resp = post(dual, "/hooks/local")
    assert_forwarded(upstream, resp, "/hooks/local", "local")
    upstream.reset()
    rid = denials.request_id("ip-dual")
    resp = post(dual, "/hooks/local", source="127.0.0.2", rid=rid)
    assert_refused(dual, upstream, resp, rid, "local", "127.0.0.2")


# ---- one trusted proxy in front: xff_num_trusted_hops: 1 --------------------------------


def test_trusted_hop_client_address_is_the_rightmost_xff_entry(hops, upstream):
    """The proxy (the TCP peer, trusted) appended 203.0.113.7, the address of its client;
    whatever that client sent before it does not count."""
    before = denials.counters(hops, "sender.")
    resp = post(hops, "/hooks/sender", [("X-Forwarded-For", "198.51.100.1, 203.0.113.7")])
    assert_forwarded(upstream, resp, "/hooks/sender", "sender")
    rec = upstream.requests()[0]
    # Forwarded with Envoy's own hop appended after what the proxy sent.
    [xff] = rec.header_values("x-forwarded-for")
    assert xff.startswith("198.51.100.1, 203.0.113.7,"), xff
    assert denials.wait_counter_delta(hops, "sender", before, {"allowed": 1}) == {"allowed": 1}


def test_trusted_hop_client_cannot_choose_its_address(hops, upstream):
    """A client behind the proxy writes the allowed address first; the proxy appends the
    client's real address (198.51.100.1), and that is the one checked."""
    rid = denials.request_id("ip-hop-forged")
    resp = post(hops, "/hooks/sender", [("X-Forwarded-For", "203.0.113.7, 198.51.100.1")], rid=rid)
    assert_refused(hops, upstream, resp, rid, "sender", "198.51.100.1")


def test_trusted_hop_without_xff_falls_back_to_the_peer(hops, upstream):
    """No X-Forwarded-For: fewer entries than trusted hops, so the client is the TCP peer
    (127.0.0.1), which is not allowed."""
    rid = denials.request_id("ip-hop-none")
    resp = post(hops, "/hooks/sender", rid=rid)
    assert_refused(hops, upstream, resp, rid, "sender", "127.0.0.1")



def test_address_from_xff_is_reported_once(hops, upstream):
    """SPEC 5: an address with port 0 (taken from X-Forwarded-For) is reported once in the
    log: once per Envoy, not once per worker VM (2 workers here)."""
    workers_before = harness.worker_connections(hops)
    for _ in range(16):
        assert post(hops, "/hooks/sender", [("X-Forwarded-For", "198.51.100.1, 203.0.113.7")]).status == 200
    workers = harness.worker_connections(hops)
    assert len([w for w, n in workers.items() if n > workers_before.get(w, 0)]) == 2, workers
    lines = [line for line in hops.log().splitlines() if "(port 0)" in line and "X-Forwarded-For" in line]
    assert len(lines) == 1, lines
