"""The harness itself, against Envoy *without* the plugin: the demo upstream records and
echoes, and the raw HTTP/1.1 and HTTP/2 clients put on the wire what the other tests
think they do. When a plugin test fails, these say whether to suspect the harness."""

from __future__ import annotations

import json

import pytest

import harness
import signing


@pytest.fixture(scope="module")
def plain_envoy(envoy_factory):
    """The demo config with the wasm filter removed: a plain proxy to the upstream."""
    cfg = harness.for_test(harness.load_demo_config(), envoy_factory.upstream.port)
    filters = harness.hcm(cfg)["http_filters"]
    harness.hcm(cfg)["http_filters"] = [f for f in filters if "wasm" not in f.get("typed_config", {}).get("@type", "")]
    return envoy_factory.start_config(cfg, name="plain", concurrency=1)


def test_upstream_echoes_and_records_what_it_received(upstream):
    resp = harness.http1(upstream.port, "POST", "/echo?x=1", [("X-Thing", "a"), ("X-Thing", "b")], b"\x00\xffbinary")
    assert resp.status == 200
    received = resp.json()["received"]
    assert received["method"] == "POST" and received["path"] == "/echo?x=1"
    assert ["X-Thing", "a"] in received["headers"] and ["X-Thing", "b"] in received["headers"]
    [rec] = upstream.requests()
    assert rec.body == b"\x00\xffbinary"
    assert rec.header_values("x-thing") == ["a", "b"]


def test_upstream_next_status_then_back_to_200(upstream):
    upstream.next_status(503, count=2)
    statuses = [harness.http1(upstream.port, "POST", "/", body=b"x").status for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert len(upstream.requests()) == 3
    upstream.reset()
    upstream.assert_nothing_reached()


def test_upstream_reads_chunked_bodies(upstream):
    resp = harness.http1_chunked(upstream.port, "/c", [], [b"ab", b"cd", b"ef"])
    assert resp.status == 200
    assert upstream.requests()[0].body == b"abcdef"


def test_plain_envoy_http1_repeated_headers_reach_upstream(plain_envoy, upstream):
    resp = harness.http1(plain_envoy.port, "POST", "/x", [("X-Hub-Signature-256", "a"), ("X-Hub-Signature-256", "b")], b"{}")
    assert resp.status == 200
    [rec] = upstream.requests()
    assert rec.header_values("x-hub-signature-256") == ["a", "b"]


def test_plain_envoy_chunked(plain_envoy, upstream):
    resp = harness.http1_chunked(plain_envoy.port, "/c", [], [b"x" * 100, b"y" * 100], delay=0.01)
    assert resp.status == 200
    assert upstream.requests()[0].body == b"x" * 100 + b"y" * 100


def test_plain_envoy_http2_with_and_without_trailers(plain_envoy, upstream):
    body = json.dumps({"n": 1}).encode()
    resp = harness.http2(plain_envoy.port, "POST", "/h2", signing.github("k", body), body)
    assert resp.status == 200, resp
    resp = harness.http2(plain_envoy.port, "POST", "/h2t", [("content-type", "application/json")], body * 5000,
                         trailers=[("x-trailer", "t")])
    assert resp.status == 200, resp
    recs = upstream.requests()
    assert [r.path for r in recs] == ["/h2", "/h2t"]
    assert recs[0].body == body and recs[1].body == body * 5000
    assert recs[0].header("x-hub-signature-256") == signing.github("k", body)[0][1]


def test_plain_envoy_stats_and_log(plain_envoy):
    assert plain_envoy.stats("http.webhooks.downstream_rq_total")["http.webhooks.downstream_rq_total"] >= 0
    assert "starting main dispatch loop" in plain_envoy.log()
