"""Remote lists (SPEC 2.3, 4) against real Envoy and real mTLS: the client_cert thumbprint
list fetched from a mock of the Copyleaks API (`GET /v2/security/client-certificates`),
whose answer each test switches (a list, garbage, HTTP 500, too slow), and whose hits
it counts.

Two Envoys start together at the beginning of the module, so their refresh clocks run
while the tests that need no waiting do their work:
- `rotating` (concurrency 3): one list whose content changes (refresh), and whose hits
  show whether the fetch is single-flight across Envoy's worker VMs;
- `lab` (concurrency 2): one route per scenario, each with its own list path: lists that
  never loaded (500, garbage), a static pin next to such a list, every accepted shape of
  the answer, a list kept through failures, a list going stale, an IP list.

Every list uses the smallest intervals the configuration accepts (refresh_seconds 10,
see MIN_REFRESH_SECONDS in src/remote_list/config.rs; retry_seconds 1), so the whole module
runs in about half a minute; every wait is a bounded poll of Envoy's stats.
"""

from __future__ import annotations

import json
import re
import time

import pytest

import harness
import mock_api
import mtls
import prometheus
from mtls import list_metric

TOKEN = "Bearer e2e-copyleaks-access-token-7c4f0e2d91"
ENV = {"COPYLEAKS_TOKEN": TOKEN}
REFRESH = 10  # the smallest refresh_seconds the plugin accepts


def timing(**extra) -> dict:
    t = {"refresh_seconds": REFRESH, "retry_seconds": 1, "timeout_ms": 500,
         "headers": {"authorization": {"env": "COPYLEAKS_TOKEN"}}}
    t.update(extra)
    return t


def cert_route(name: str, path: str, thumbprints: list[str] | None = None, **list_extra) -> dict:
    cc: dict = {"remote_list": mtls.remote_list(path, **timing(**list_extra))}
    if thumbprints:
        cc["thumbprints"] = thumbprints
    # The trailing '/': a path_prefix is a plain string prefix (/hooks/shape_wrapped
    # would also cover /hooks/shape_wrapped_objects).
    return {"name": name, "match": {"path_prefix": f"/hooks/{name}/"}, "checks": {"client_cert": cc}}


class Lab:
    def __init__(self, tmp, factory):
        self.certs = {n: mtls.self_signed(tmp, n, f"sender-{n}") for n in ("a", "b", "c", "e", "stranger")}
        self.server = mtls.self_signed(tmp, "server", "webhooks.example.test")
        a, b, c, e = (self.certs[n] for n in "abce")
        self.api = mock_api.MockApi.start()
        api = self.api
        # rotating: starts with A (SHA-1, upper case) and B (SHA-256 with colons).
        api.answer("/rotating", list=[a.sha1.upper(), mtls.colon_mixed(b.sha256)])
        # Lists that never load at first.
        api.answer("/cold-500", status=500)
        api.answer("/cold-garbage", garbage=True)
        api.answer("/cold-mixed", status=500)
        # Every shape of answer the SPEC accepts (the Copyleaks format is not published).
        other = self.certs["stranger"]  # never listed; C and E appear as "other" entries
        self.shapes = {
            "strings": [a.sha1.upper(), c.sha256],
            "objects": [{"name": "copyleaks-2026", "thumbprint": mtls.colon_mixed(a.sha256), "notAfter": "2027-01-01"},
                        {"name": "copyleaks-2025", "thumbprint": c.sha1, "notAfter": "2026-12-31"}],
            "wrapped": {"count": 2, "updated": "2026-11-20", "thumbprints": [e.sha1, mtls.colon_mixed(a.sha1)]},
            "wrapped_objects": {"certificates": [{"subject": "CN=sender-e", "thumbprint": e.sha256},
                                                 {"subject": "CN=sender-a", "thumbprint": a.sha1.upper()}]},
            "explicit": {"result": {"items": [{"sha1": c.sha1, "sha256": c.sha256},
                                              {"sha1": a.sha1, "sha256": a.sha256}]}},
        }
        assert other.sha1 not in json.dumps(self.shapes).lower()
        for shape, doc in self.shapes.items():
            api.answer(f"/shape/{shape}", list=doc)
        api.answer("/keep", list=[a.sha1])
        api.answer("/stale", list=[a.sha256])
        api.answer("/ips", list=["127.0.0.1/32", "2001:db8::/32"])

        self.rotating_policy = {"api": "v1", "routes": [
            cert_route("rotating", "/rotating", timeout_ms=1000)]}
        self.lab_policy = {"api": "v1", "routes": [
            cert_route("never_500", "/cold-500"),
            cert_route("never_garbage", "/cold-garbage"),
            cert_route("mixed", "/cold-mixed", thumbprints=[mtls.colon_mixed(a.sha1)]),
            *[cert_route(f"shape_{s}", f"/shape/{s}") for s in self.shapes if s != "explicit"],
            cert_route("shape_explicit", "/shape/explicit", pointer="/result/items", field="sha256"),
            cert_route("keep", "/keep"),
            cert_route("stale", "/stale", max_stale_seconds=REFRESH),
            {"name": "ips", "match": {"path_prefix": "/hooks/ips/"},
             "checks": {"ip_allowlist": {"remote_list": mtls.remote_list("/ips", **timing())}}},
        ]}
        self.started = time.monotonic()
        self.rotating = mtls.start_tls_envoy(factory, self.rotating_policy, ENV, self.server, name="rotating",
                                             api=api, concurrency=3)
        self.lab = mtls.start_tls_envoy(factory, self.lab_policy, ENV, self.server, name="lab", api=api)


@pytest.fixture(scope="module")
def lab(envoy_factory, tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("pki"), envoy_factory)
    yield lab
    lab.api.stop()


def post(envoy, route: str, cert, source: str | None = None) -> harness.Response:
    return mtls.https(envoy.port, "POST", f"/hooks/{route}/completed/scan-1", [("Content-Type", "application/json")],
                      b'{"status":0}', cert=cert, source=source)


def metric(envoy, route: str, name: str, check: str = "client_cert") -> int:
    return envoy.counter(list_metric(route, check, name))


def wait_metric(envoy, route: str, name: str, at_least: int, timeout: float, check: str = "client_cert") -> int:
    full = list_metric(route, check, name)
    mtls.wait_for(lambda: envoy.counter(full) >= at_least, timeout, f"{full} >= {at_least}")
    return envoy.counter(full)


def settle() -> None:
    """Other workers pick up a list published by the fetching one within a second (the
    request path re-reads shared data at most once a second)."""
    time.sleep(1.2)


def assert_forwarded(resp, upstream, route: str) -> None:
    assert resp.status == 200, resp
    recs = upstream.requests()
    assert recs and recs[-1].path == f"/hooks/{route}/completed/scan-1"
    assert recs[-1].header_values("x-webhook-guard") == [f"route={route}"]


# --------------------------------------------------------------------------------------
# Before any good fetch (these run first, while the lists are still failing).


@pytest.mark.parametrize("route,reason", [("never_500", "HTTP 500"), ("never_garbage", "malformed answer: answer is not JSON")])
def test_remote_only_check_answers_503_before_the_first_good_fetch(lab, upstream, route, reason):
    envoy = lab.lab
    wait_metric(envoy, route, "fetch_failed", 1, timeout=5)
    before = envoy.counter(f"webhook_guard.{route}.denied.list_unavailable")
    resp = post(envoy, route, lab.certs["a"])
    assert resp.status == 503, resp
    assert resp.json() == {"error": "unavailable"}
    retry_after = resp.header("retry-after")
    assert retry_after is not None and retry_after.isdigit() and 1 <= int(retry_after) <= 600, resp.headers
    upstream.assert_nothing_reached()
    assert envoy.wait_counter(f"webhook_guard.{route}.denied.list_unavailable", before + 1) == before + 1
    assert metric(envoy, route, "fetch_ok") == 0
    assert (mtls.gauge(envoy, list_metric(route, "client_cert", "entries")) or 0) == 0
    line = envoy.wait_log(rf"remote list {route}\.client_cert fetch failed: {re.escape(reason)}")
    assert "no list loaded yet" in line
    assert lab.api.hits_of(f"/cold-{route.split('_', 1)[1]}"), "the mock API was asked"


def test_static_pins_keep_their_verdict_while_the_list_is_unavailable(lab, upstream):
    """A check with static thumbprints is not 'remote only': its pinned certificate is
    forwarded and any other refused with 403, not 503, while its list never loaded."""
    envoy = lab.lab
    wait_metric(envoy, "mixed", "fetch_failed", 1, timeout=5)
    assert_forwarded(post(envoy, "mixed", lab.certs["a"]), upstream, "mixed")
    upstream.reset()
    resp = post(envoy, "mixed", lab.certs["c"])
    assert resp.status == 403 and resp.json() == {"error": "forbidden"}, resp
    upstream.assert_nothing_reached()
    assert envoy.wait_counter("webhook_guard.mixed.denied.cert_not_pinned", 1) >= 1
    assert metric(envoy, "mixed", "fetch_ok") == 0


def test_the_list_arrives_once_the_api_recovers(lab, upstream):
    envoy = lab.lab
    wait_metric(envoy, "never_500", "fetch_failed", 1, timeout=5)
    lab.api.answer("/cold-500", list=[lab.certs["a"].sha256])
    # Retries back off (1 s, 2 s, 4 s ... capped at refresh_seconds): bounded by that cap.
    wait_metric(envoy, "never_500", "fetch_ok", 1, timeout=REFRESH + 3)
    settle()
    for _ in range(3):
        upstream.reset()
        assert_forwarded(post(envoy, "never_500", lab.certs["a"]), upstream, "never_500")
    resp = post(envoy, "never_500", lab.certs["c"])
    assert resp.status == 403, resp
    assert mtls.gauge(envoy, list_metric("never_500", "client_cert", "entries")) == 1


# --------------------------------------------------------------------------------------
# Shapes of the answer, the request that fetches it, the metrics.


SHAPES = ["strings", "objects", "wrapped", "wrapped_objects", "explicit"]


@pytest.fixture(scope="module")
def shapes_loaded(lab):
    for shape in SHAPES:
        wait_metric(lab.lab, f"shape_{shape}", "fetch_ok", 1, timeout=5)
    settle()
    return lab


@pytest.mark.parametrize("shape", SHAPES)
def test_every_accepted_shape_of_the_list_pins(shapes_loaded, upstream, shape):
    lab = shapes_loaded
    envoy, route = lab.lab, f"shape_{shape}"
    assert_forwarded(post(envoy, route, lab.certs["a"]), upstream, route)
    upstream.reset()
    resp = post(envoy, route, lab.certs["stranger"])
    assert resp.status == 403 and resp.json() == {"error": "forbidden"}, resp
    upstream.assert_nothing_reached()
    assert envoy.wait_counter(f"webhook_guard.{route}.denied.cert_not_pinned", 1) >= 1
    assert mtls.gauge(envoy, list_metric(route, "client_cert", "entries")) == 2


def test_the_other_entries_of_each_shape_pin_too(shapes_loaded, upstream):
    lab = shapes_loaded
    """Not just the first entry: C and E are listed second or first in the shapes."""
    envoy = lab.lab
    for route, cert in [("shape_strings", "c"), ("shape_objects", "c"), ("shape_wrapped", "e"),
                        ("shape_wrapped_objects", "e"), ("shape_explicit", "c")]:
        upstream.reset()
        assert_forwarded(post(envoy, route, lab.certs[cert]), upstream, route)


def test_the_api_gets_the_token_from_the_environment_which_never_reaches_the_log(lab):
    wait_metric(lab.lab, "shape_strings", "fetch_ok", 1, timeout=5)
    wait_metric(lab.rotating, "rotating", "fetch_ok", 1, timeout=5)
    hits = lab.api.hits
    assert hits
    for h in hits:
        assert h.headers.get("authorization") == TOKEN, h
        assert h.headers.get("host") == mtls.COPYLEAKS_AUTHORITY, h
        assert h.headers.get("accept") == "application/json", h
    for envoy in (lab.lab, lab.rotating):
        envoy.assert_no_secret_in_log(extra=[TOKEN, TOKEN.split()[1]])


def test_list_metrics(lab):
    envoy = lab.lab
    route = "shape_wrapped"
    assert wait_metric(envoy, route, "fetch_ok", 1, timeout=5) >= 1
    assert metric(envoy, route, "fetch_failed") == 0
    assert mtls.gauge(envoy, list_metric(route, "client_cert", "entries")) == 2
    age = mtls.gauge(envoy, list_metric(route, "client_cert", "age_seconds"))
    assert age is not None and 0 <= age <= REFRESH + 2, age
    # What Prometheus scrapes: one metric per measure, the list as a label (the stats
    # tags of envoy/envoy.yaml, which the test configs are built from).
    scrape = prometheus.scrape(envoy)
    assert scrape.value("webhook_guard_list_fetch_ok", list="shape_wrapped.client_cert") >= 1
    assert scrape.value("webhook_guard_list_fetch_failed", list="shape_wrapped.client_cert") == 0
    assert scrape.value("webhook_guard_list_entries", list="shape_wrapped.client_cert") == 2


def test_remote_ip_list_allows_only_the_listed_addresses(lab, upstream):
    envoy = lab.lab
    wait_metric(envoy, "ips", "fetch_ok", 1, timeout=5, check="ip_allowlist")
    assert mtls.gauge(envoy, list_metric("ips", "ip_allowlist", "entries")) == 2
    assert_forwarded(post(envoy, "ips", lab.certs["stranger"], source="127.0.0.1"), upstream, "ips")
    upstream.reset()
    resp = post(envoy, "ips", lab.certs["a"], source="127.0.0.2")
    assert resp.status == 403 and resp.json() == {"error": "forbidden"}, resp
    upstream.assert_nothing_reached()
    line = envoy.wait_log(r"denied route=ips reason=ip_not_allowed client=127\.0\.0\.2")
    assert line


# --------------------------------------------------------------------------------------
# Refresh, failures after a good fetch, staleness, single flight.


def test_refresh_adds_and_removes_thumbprints(lab, upstream):
    envoy, c = lab.rotating, lab.certs
    wait_metric(envoy, "rotating", "fetch_ok", 1, timeout=5)
    settle()
    assert mtls.gauge(envoy, list_metric("rotating", "client_cert", "entries")) == 2
    for cert in ("a", "b"):
        upstream.reset()
        assert_forwarded(post(envoy, "rotating", c[cert]), upstream, "rotating")
    assert post(envoy, "rotating", c["c"]).status == 403
    # Copyleaks rotates: A is withdrawn, C and E are published.
    fetched = metric(envoy, "rotating", "fetch_ok")
    lab.api.answer("/rotating", list=[c["b"].sha256, mtls.colon_mixed(c["c"].sha1), c["e"].sha256])
    changed_at = time.monotonic()
    wait_metric(envoy, "rotating", "fetch_ok", fetched + 1, timeout=REFRESH + 3)
    assert time.monotonic() - changed_at <= REFRESH + 3
    settle()
    assert mtls.gauge(envoy, list_metric("rotating", "client_cert", "entries")) == 3
    # New connections, spread over the three workers: every one sees the new list.
    for _ in range(4):
        upstream.reset()
        assert_forwarded(post(envoy, "rotating", c["c"]), upstream, "rotating")
        upstream.reset()
        assert_forwarded(post(envoy, "rotating", c["e"]), upstream, "rotating")
        upstream.reset()
        resp = post(envoy, "rotating", c["a"])
        assert resp.status == 403 and resp.json() == {"error": "forbidden"}, "a withdrawn thumbprint is refused"
        upstream.assert_nothing_reached()
    assert_forwarded(post(envoy, "rotating", c["b"]), upstream, "rotating")


def test_list_goes_stale_when_no_refresh_succeeds_and_recovers(lab, upstream):
    """max_stale_seconds: an old list that could not be refreshed fails closed (403),
    and the next good fetch makes it usable again."""
    envoy, a = lab.lab, lab.certs["a"]
    wait_metric(envoy, "stale", "fetch_ok", 1, timeout=5)
    settle()
    ok_before = metric(envoy, "stale", "fetch_ok")
    lab.api.answer("/stale", status=503)

    def refused():
        upstream.reset()
        resp = post(envoy, "stale", a)
        return resp if resp.status != 200 else None

    resp = mtls.wait_for(refused, timeout=2 * REFRESH + 3, what="the stale list to refuse", interval=0.5)
    assert resp.status == 403 and resp.json() == {"error": "forbidden"}, resp
    upstream.assert_nothing_reached()
    assert envoy.wait_counter("webhook_guard.stale.denied.list_stale", 1) >= 1
    # With max_stale_seconds == refresh_seconds the list may turn stale a moment before
    # the refresh is even tried; the failed refresh follows.
    wait_metric(envoy, "stale", "fetch_failed", 1, timeout=3)
    assert metric(envoy, "stale", "fetch_ok") == ok_before
    upstream.reset()
    lab.api.answer("/stale", list=[a.sha256])
    wait_metric(envoy, "stale", "fetch_ok", ok_before + 1, timeout=REFRESH + 3)
    settle()
    assert_forwarded(post(envoy, "stale", a), upstream, "stale")


def test_last_good_list_is_kept_when_the_api_fails_or_answers_garbage(lab, upstream):
    envoy, a = lab.lab, lab.certs["a"]
    wait_metric(envoy, "keep", "fetch_ok", 1, timeout=5)
    failed = metric(envoy, "keep", "fetch_failed")
    assert failed == 0
    lab.api.answer("/keep", status=500)
    ok = metric(envoy, "keep", "fetch_ok")
    # The next refresh (at most refresh_seconds away) fails; the retry (retry_seconds,
    # with backoff) will meet garbage.
    wait_metric(envoy, "keep", "fetch_failed", failed + 1, timeout=REFRESH + 3)
    lab.api.answer("/keep", garbage=True)
    envoy.wait_log(r"remote list keep\.client_cert fetch failed: HTTP 500; keeping the last good list \(1 entries")
    assert_forwarded(post(envoy, "keep", a), upstream, "keep")
    # The list it keeps is older than a refresh period now.
    age = mtls.gauge(envoy, list_metric("keep", "client_cert", "age_seconds"))
    assert age is not None and age >= REFRESH - 2, age
    assert mtls.gauge(envoy, list_metric("keep", "client_cert", "entries")) == 1
    envoy.wait_log(r"remote list keep\.client_cert fetch failed: malformed answer: answer is not JSON; keeping", timeout=8)
    # Too slow (past timeout_ms): the answer that would replace A by C comes too late.
    lab.api.answer("/keep", list=[lab.certs["c"].sha1], slow=3.0)
    upstream.reset()
    assert_forwarded(post(envoy, "keep", a), upstream, "keep")
    # Envoy 1.40 answers a callout that timed out with a local 504 (the plugin also
    # handles an answer without :status, "no response").
    envoy.wait_log(r"remote list keep\.client_cert fetch failed: (HTTP 504|no response); keeping", timeout=12)
    assert metric(envoy, "keep", "fetch_failed") >= failed + 3
    assert metric(envoy, "keep", "fetch_ok") == ok
    upstream.reset()
    assert_forwarded(post(envoy, "keep", a), upstream, "keep")
    resp = post(envoy, "keep", lab.certs["c"])
    assert resp.status == 403, "the answer that came too late was not used"
    assert mtls.gauge(envoy, list_metric("keep", "client_cert", "entries")) == 1
    assert len(lab.api.hits_of("/keep")) >= 4


def test_fetches_are_not_multiplied_by_the_worker_count(lab):
    """`rotating` runs with --concurrency 3 (three worker VMs and the main thread's, each
    with its own root context and tick). Single flight: one fetch per refresh period,
    never one per worker."""
    api = lab.api
    mtls.wait_for(lambda: len(api.hits_of("/rotating")) >= 2, timeout=2 * REFRESH + 5,
                  what="a refresh of the rotating list")
    hits = api.hits_of("/rotating")
    times = [h.at - lab.started for h in hits]
    window = time.monotonic() - lab.started
    detail = f"hits at {[round(t, 1) for t in times]} s over {window:.1f} s"
    # After the start, refreshes come one per period (9 to 10 s with the jitter).
    first_refresh = next(i for i, t in enumerate(times) if t - times[0] >= REFRESH * 0.9 - 1)
    later = times[first_refresh:]
    gaps = [b - a for a, b in zip(later, later[1:])]
    assert all(g >= REFRESH * 0.9 - 1 for g in gaps), detail
    # At most one per period overall (plus the start, which the next test looks at).
    periods = window / (REFRESH * 0.9)
    assert len(hits) <= int(periods) + 2, detail
    # Envoy counted each of those answers once.
    counted = lambda: metric(lab.rotating, "rotating", "fetch_ok") + metric(lab.rotating, "rotating", "fetch_failed")
    mtls.wait_for(lambda: counted() >= len(hits), timeout=3, what="the fetch counters")
    assert counted() == len(api.hits_of("/rotating")), detail


# SPEC 2.3: "fetched once at start ... by one worker at a time". Every VM's first tick
# lands at about the same moment (the main thread's root context and each worker's);
# the shared state record is created when the configuration loads, so taking the lease
# is a compare-and-swap from the first tick on and only one VM fetches. (Before that,
# most lists were fetched twice within ~0.1 s at start.)
def test_the_first_fetch_is_single_flight_too(lab):
    paths = ["/rotating", *(f"/shape/{s}" for s in SHAPES), "/keep", "/stale", "/ips"]
    mtls.wait_for(lambda: all(lab.api.hits_of(p) for p in paths), timeout=6, what="the first fetches")
    time.sleep(max(0.0, lab.started + 4 - time.monotonic()))  # a second fetch would follow within ~0.1 s
    doubled = {}
    for path in paths:
        hits = lab.api.hits_of(path)
        assert hits, path
        start = [h.at - lab.started for h in hits if h.at - hits[0].at < REFRESH * 0.5]
        if len(start) != 1:
            doubled[path] = [round(t, 3) for t in start]
    assert not doubled, f"lists fetched more than once at start (seconds after launch): {doubled}"
