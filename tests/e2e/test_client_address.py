"""The client address (SPEC 5): with use_remote_address: false Envoy takes the client
address from X-Forwarded-For (port 0), which a client can forge; the plugin says so once
in the log. With the setting every example uses, it does not."""

from __future__ import annotations

import re

import pytest

import harness

POLICY = {"api": "v1", "unmatched": "allow", "routes": [
    {"name": "github", "match": {"path_prefix": "/hooks/github"},
     "checks": {"signature": {"scheme": "github", "secrets": [{"id": "current", "value": "client-addr-e2e-secret"}]}}},
]}
WARNING = re.compile(r"\[warn(ing)?\].*(X-Forwarded-For|use_remote_address)", re.I)


@pytest.fixture(scope="module")
def trusting_xff(envoy_factory):
    return envoy_factory.start(POLICY, name="xff", concurrency=1, hcm_options={"use_remote_address": False})


@pytest.fixture(scope="module")
def remote_address(envoy_factory):
    return envoy_factory.start(POLICY, name="remote", concurrency=1)


def test_forged_xff_address_is_reported_once(trusting_xff, upstream):
    for _ in range(3):
        resp = harness.http1(trusting_xff.port, "POST", "/hooks/github", [("X-Forwarded-For", "203.0.113.9")], b"{}")
        assert resp.status == 401
    trusting_xff.wait_log(WARNING.pattern)
    assert len([line for line in trusting_xff.log().splitlines() if WARNING.search(line)]) == 1


def test_remote_address_config_logs_the_tcp_peer(remote_address, upstream):
    resp = harness.http1(remote_address.port, "POST", "/hooks/github", [("X-Forwarded-For", "203.0.113.9")], b"{}")
    assert resp.status == 401
    line = remote_address.wait_log(r"signature_missing")
    assert "127.0.0.1" in line and "203.0.113.9" not in line
    assert not [line for line in remote_address.log().splitlines() if WARNING.search(line)]
