"""Fixtures for the end-to-end suite. See harness/ for the pieces.

- `upstream`: the demo upstream (demo/upstream.py), one per session, reset before each test.
- `envoy_factory`: starts Envoys for the current module (stopped at the module's end):
      envoy = envoy_factory.start(policy, env={...})
      failure = envoy_factory.start_failing(bad_policy, env={...})
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import harness  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--edition", choices=harness.EDITIONS, default="wasm",
                     help="which edition of the filter Envoy runs: the Wasm plugin (default) or the native module")


def pytest_configure(config):
    harness.set_edition(config.getoption("--edition"))
    config.addinivalue_line("markers", "wasm_only(reason): about the Wasm plugin itself; skipped under --edition native")
    config.addinivalue_line("markers", "native_only(reason): about the native module itself; run under --edition native")


def pytest_collection_modifyitems(config, items):
    other = "wasm_only" if harness.is_native() else "native_only"
    for item in items:
        marker = item.get_closest_marker(other)
        if marker:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            item.add_marker(pytest.mark.skip(reason=f"{other.replace('_', ' ')}: {reason}"))


def pytest_sessionstart(session):
    shutil.rmtree(harness.WORK, ignore_errors=True)
    harness.WORK.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def upstream_server():
    up = harness.Upstream(harness.WORK / "upstream.log")
    yield up
    up.stop()


@pytest.fixture
def upstream(upstream_server) -> harness.Upstream:
    """The recording upstream, emptied before the test."""
    upstream_server.reset()
    return upstream_server


@pytest.fixture(scope="module")
def envoy_factory(request, upstream_server):
    if not harness.ENVOY_BIN.exists():
        pytest.fail(f"no Envoy at {harness.ENVOY_BIN} (run `make setup`)", pytrace=False)
    factory = harness.EnvoyFactory(harness.WORK / request.module.__name__, upstream_server)
    yield factory
    factory.stop_all()
