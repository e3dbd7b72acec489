"""Where things are and how long to wait: the repository, the plugin build, Envoy, the
work directory of a run; shared by every part of the harness."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[3]
DEMO_ENVOY_YAML = REPO / "envoy" / "envoy.yaml"
DEMO_UPSTREAM = REPO / "demo" / "upstream.py"
# The plugin under test; WEBHOOK_GUARD_WASM points the suite at another build.
WASM = Path(os.environ.get("WEBHOOK_GUARD_WASM", REPO / "target" / "webhook_guard.wasm"))
ENVOY_BIN = Path(os.environ.get("WEBHOOK_GUARD_ENVOY", REPO / ".venv" / "bin" / "envoy"))
# Where Envoy configs and logs of a run are kept (wiped at the start of each run),
# so a failure can be read afterwards.
WORK = Path(os.environ.get("WEBHOOK_GUARD_E2E_WORK", REPO / ".work" / "e2e"))

START_TIMEOUT = 20.0
REQUEST_TIMEOUT = 5.0

Headers = Sequence[tuple[str, str]]


@functools.cache
def envoy_version() -> tuple[int, int, int] | None:
    """The release of the Envoy under test, from `envoy --version`
    (`envoy  version: <sha>/1.36.4/Clean/RELEASE/BoringSSL`); None if it cannot run."""
    try:
        out = subprocess.run([str(ENVOY_BIN), "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"/(\d+)\.(\d+)\.(\d+)/", out)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None
