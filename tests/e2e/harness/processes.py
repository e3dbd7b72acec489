"""The processes of a test: the demo upstream that records what reaches it, and Envoy
running the plugin (start, readiness, stats, logs, refused configurations)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import yaml

from . import edition
from .config import build_config
from .messages import Recorded
from .settings import DEMO_UPSTREAM, ENVOY_BIN, REQUEST_TIMEOUT, START_TIMEOUT, WASM

# Small HTTP helpers for the admin and control ports (stdlib only).


def _http(method: str, url: str, body: bytes | None = None, timeout: float = REQUEST_TIMEOUT) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _die_with_parent() -> None:
    """preexec_fn: have the kernel stop the child if the test process dies, so an
    interrupted run leaves no Envoy or upstream behind (Linux; best effort elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Upstream:
    """demo/upstream.py in a subprocess, on kernel-chosen ports, with its control client."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(DEMO_UPSTREAM), "--host", "127.0.0.1", "--port", "0", "--control-port", "0", "--quiet"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        line = wait_until(self._listening_line, START_TIMEOUT, what="demo upstream to listen")
        ports = [int(p) for p in re.findall(r":(\d+)", line)]
        self.port, self.control_port = ports[0], ports[1]

    def _listening_line(self) -> str | None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"demo upstream exited with {self.proc.returncode}: {self.log_path.read_text()}")
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "listening on" in line:
                return line
        return None

    @property
    def control(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    def requests(self) -> list[Recorded]:
        status, body = _http("GET", self.control + "/requests")
        assert status == 200, body
        return [Recorded.from_json(d) for d in json.loads(body)]

    def seen(self) -> list[dict]:
        """Every request whose headers reached the app, complete or not."""
        status, body = _http("GET", self.control + "/seen")
        assert status == 200, body
        return json.loads(body)

    def assert_nothing_reached(self) -> None:
        """Not the body, not even the headers of any request reached the app."""
        seen = self.seen()
        assert not seen, f"the app saw request headers: {seen}"
        recorded = self.requests()
        assert not recorded, f"the app received: {recorded}"

    def reset(self) -> None:
        status, body = _http("POST", self.control + "/reset", b"")
        assert status == 200, body

    def next_status(self, status: int, count: int = 1) -> None:
        code, body = _http("POST", self.control + "/next-status", json.dumps({"status": status, "count": count}).encode())
        assert code == 200, body

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class EnvoyFailedToStart(Exception):
    def __init__(self, message: str, log: str):
        super().__init__(f"{message}\n--- envoy log (tail) ---\n{log[-6000:]}")
        self.log = log


@dataclass
class StartFailure:
    """What a refused configuration left behind."""

    returncode: int
    log: str


class Envoy:
    """One Envoy process. Use EnvoyFactory (conftest's `envoy_factory`) to get one."""

    def __init__(self, name: str, cfg: dict, workdir: Path, *, concurrency: int = 2, log_level: str = "info",
                 wasm_log_level: str = "debug", secrets: Iterable[str] = (), extra_args: Sequence[str] = ()):
        self.name = name
        self.cfg = cfg
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "envoy.yaml"
        self.log_path = workdir / "envoy.log"
        self.admin_address_path = workdir / "admin-address"
        env = None
        if edition.is_native():
            cfg, vm_env = edition.to_native(cfg)
            env = edition.process_env(vm_env)
        self.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.secrets = [s for s in secrets if s]
        self.port = 0
        # Every listener with a socket address, by name.
        self.ports: dict[str, int] = {}
        self.admin_port = 0
        # A work directory may be used again (the benchmark's is): nothing of a previous
        # run may pass for this one's.
        self.admin_address_path.unlink(missing_ok=True)
        self.log_path.unlink(missing_ok=True)
        # Envoy's own --log-path is flushed lazily (up to 10 s); stderr is written line by
        # line, so the log is complete the moment a test reads it. Append mode, so the log
        # can be cut short while Envoy writes it (a long benchmark does).
        self._stdout = open(self.log_path, "ab")
        args = [
            str(ENVOY_BIN),
            "-c", str(self.config_path),
            # No shared-memory hot-restart socket, so several Envoys can run at once.
            "--disable-hot-restart",
            "--concurrency", str(concurrency),
            "-l", log_level,
            "--component-log-level", f"wasm:{wasm_log_level},dynamic_modules:{wasm_log_level}",
            "--admin-address-path", str(self.admin_address_path),
            *extra_args,
        ]
        self.proc = subprocess.Popen(args, stdout=self._stdout, stderr=subprocess.STDOUT, cwd=workdir,
                                     env=env, preexec_fn=_die_with_parent)

    # -- lifecycle ---------------------------------------------------------------------

    def wait_ready(self, timeout: float = START_TIMEOUT) -> "Envoy":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EnvoyFailedToStart(f"envoy {self.name} exited with {self.proc.returncode}", self.log())
            if self.is_live():
                self.port = self._listener_port()
                return self
            time.sleep(0.05)
        self.stop()
        raise EnvoyFailedToStart(f"envoy {self.name} not ready after {timeout}s", self.log())

    def is_live(self) -> bool:
        """Whether the admin port answers /ready with LIVE (the admin address is read
        from the file Envoy writes once it listens)."""
        if not (self.admin_address_path.exists() and self.admin_address_path.read_text().strip()):
            return False
        self.admin_port = int(self.admin_address_path.read_text().strip().rsplit(":", 1)[1])
        try:
            status, body = _http("GET", self.admin + "/ready", timeout=1)
        except OSError:
            return False
        return status == 200 and body.strip() == b"LIVE"

    def _listener_port(self) -> int:
        """The port of the first listener; every listener's in `ports`."""
        status, body = _http("GET", self.admin + "/listeners?format=json")
        assert status == 200, body
        for ls in json.loads(body)["listener_statuses"]:
            address = ls["local_address"].get("socket_address")
            if address:
                self.ports[ls["name"]] = int(address["port_value"])
        if not self.ports:
            raise RuntimeError("envoy reports no listener")
        return next(iter(self.ports.values()))

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(5) is None:
                self.proc.kill()
                self.proc.wait(5)
        self._stdout.close()

    # -- observation -------------------------------------------------------------------

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, pattern: str, timeout: float = 3.0) -> str:
        """Wait for a log line matching the regex `pattern`; return that line."""
        rx = re.compile(pattern)

        def find():
            for line in self.log().splitlines():
                if rx.search(line):
                    return line
            return None

        return wait_until(find, timeout, what=f"log line /{pattern}/ in {self.log_path}")

    def stats(self, contains: str = "webhook_guard") -> dict[str, int]:
        """Counters and gauges whose name contains `contains`, keyed by the name the plugin
        gave them. Envoy 1.40 files Wasm-defined metrics under `wasmcustom.` (the
        Prometheus endpoint drops that prefix again); both spellings map to one key."""
        status, body = _http("GET", self.admin + "/stats?format=json&filter=" + urllib.request.quote(re.escape(contains)))
        assert status == 200, body
        out: dict[str, int] = {}
        for s in json.loads(body).get("stats", []):
            if "name" in s and isinstance(s.get("value"), int):
                name = s["name"]
                if name.startswith("wasmcustom."):
                    name = name[len("wasmcustom."):]
                out[name] = out.get(name, 0) + s["value"]
        return out

    def counter(self, name: str) -> int:
        """The value of a plugin metric, e.g. `webhook_guard.github.allowed`; 0 if not defined."""
        return self.stats(name).get(name, 0)

    def wait_counter(self, name: str, at_least: int, timeout: float = 3.0) -> int:
        """Wait until a counter reaches `at_least` (a local reply can reach the client a
        moment before the plugin's increment is visible on the admin port)."""
        try:
            wait_until(lambda: self.counter(name) >= at_least, timeout, what=f"counter {name} >= {at_least}")
        except TimeoutError:
            pass  # let the caller's assert show the actual value
        return self.counter(name)

    def assert_no_secret_in_log(self, extra: Iterable[str] = ()) -> None:
        log = self.log()
        for secret in [*self.secrets, *extra]:
            if secret:
                assert secret not in log, f"a secret value appears in {self.log_path}"


def collect_secrets(policy: dict | str, env: Mapping[str, str] | None) -> list[str]:
    """Every secret value a test config holds: env values and `value:` secrets."""
    found = [v for v in (env or {}).values() if v]

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "secrets" and isinstance(v, list):
                    found.extend(s["value"] for s in v if isinstance(s, dict) and isinstance(s.get("value"), str))
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    if isinstance(policy, dict):
        walk(policy)
    # The standard scheme's key is base64 after `whsec_`; its decoded form must not leak either.
    for s in list(found):
        if s.startswith("whsec_"):
            try:
                found.append(base64.b64decode(s[len("whsec_"):], validate=True).decode("latin-1"))
            except ValueError:
                pass
    return [s for s in found if len(s) >= 6]


@contextlib.contextmanager
def environment(values: dict[str, str]):
    """Envoy inherits the test's environment: set what `host_env_keys` names for the
    Envoys started inside, and put back what was there."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def require_wasm() -> None:
    """The edition under test is built (the plugin, or the native library)."""
    edition.require_build()


class EnvoyFactory:
    """Starts Envoys for one test module and stops them all at its end."""

    def __init__(self, workdir: Path, upstream: Upstream):
        self.workdir = workdir
        self.upstream = upstream
        self.started: list[Envoy] = []
        self._n = 0

    def _next_dir(self, name: str) -> Path:
        self._n += 1
        return self.workdir / f"{self._n:02d}-{name}"

    def start(self, policy: dict | str, env: Mapping[str, str] | None = None, *, name: str = "envoy",
              concurrency: int = 2, listener: Mapping | None = None, filter_chain: Mapping | None = None,
              hcm_options: Mapping | None = None, plugin_options: Mapping | None = None,
              log_level: str = "info", wasm_log_level: str = "debug") -> Envoy:
        """Start Envoy with the demo's filter settings and this policy; wait until it is ready.

        concurrency: worker threads, each with its own plugin VM (2: this machine's cores,
        so per-VM state is exercised). wasm_log_level: Envoy's level for the `wasm`
        component, which carries the plugin's own log lines (debug, so a leak would show).
        """
        require_wasm()
        cfg = build_config(policy, self.upstream.port, env, listener=listener, filter_chain=filter_chain,
                           hcm_options=hcm_options, plugin_options=plugin_options)
        return self.start_config(cfg, name=name, concurrency=concurrency, log_level=log_level,
                                 wasm_log_level=wasm_log_level, secrets=collect_secrets(policy, env))

    def start_config(self, cfg: dict, *, name: str = "envoy", concurrency: int = 2, log_level: str = "info",
                     wasm_log_level: str = "debug", secrets: Iterable[str] = (),
                     extra_args: Sequence[str] = ()) -> Envoy:
        """Start Envoy with a complete config (e.g. envoy/envoy.yaml passed through for_test);
        extra_args go to Envoy's command line (e.g. --config-yaml)."""
        envoy = Envoy(name, cfg, self._next_dir(name), concurrency=concurrency, log_level=log_level,
                      wasm_log_level=wasm_log_level, secrets=secrets, extra_args=extra_args)
        self.started.append(envoy)
        return envoy.wait_ready()

    def start_failing(self, policy: dict | str, env: Mapping[str, str] | None = None, *, name: str = "bad-config",
                      timeout: float = START_TIMEOUT) -> StartFailure:
        """Start Envoy with a configuration the plugin must refuse; return its exit code and log.
        Fails the test if Envoy becomes ready instead."""
        require_wasm()
        cfg = build_config(policy, self.upstream.port, env)
        envoy = Envoy(name, cfg, self._next_dir(name), concurrency=1)
        self.started.append(envoy)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = envoy.proc.poll()
            if rc is not None:
                envoy.stop()
                return StartFailure(rc, envoy.log())
            if envoy.is_live():
                log = envoy.log()
                envoy.stop()
                raise AssertionError(f"envoy started with a configuration it should refuse\n{log[-4000:]}")
            time.sleep(0.05)
        envoy.stop()
        raise AssertionError(f"envoy neither exited nor became ready in {timeout}s\n{envoy.log()[-4000:]}")

    def stop_all(self) -> None:
        for e in self.started:
            e.stop()


def worker_connections(envoy: "Envoy") -> dict[str, int]:
    """Connections accepted per worker thread of Envoy's (only) listener:
    {"worker_0": n, "worker_1": m, ...}, from the per-worker listener stats."""
    status, body = _http("GET", envoy.admin + "/stats?format=json&filter=" +
                         urllib.request.quote(r"^listener\..*\.worker_\d+\.downstream_cx_total$"))
    assert status == 200, body
    out: dict[str, int] = {}
    for s in json.loads(body).get("stats", []):
        m = re.search(r"\.(worker_\d+)\.downstream_cx_total$", s.get("name", ""))
        if m and isinstance(s.get("value"), int):
            out[m.group(1)] = out.get(m.group(1), 0) + s["value"]
    return out
