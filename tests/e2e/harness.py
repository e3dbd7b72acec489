"""End-to-end harness: a real Envoy running the freshly built plugin, the demo upstream
that records what reaches it, and clients that can send what ordinary clients will not
(repeated headers, lying Content-Length, chunked bodies, HTTP/2 trailers).

Everything listens on 127.0.0.1 and on ports the kernel picks (port 0), read back from
the processes themselves, so runs never race for a port.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import yaml

REPO = Path(__file__).resolve().parents[2]
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

# --------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------
# The demo upstream (demo/upstream.py) as a recording server.


class HeaderLookup:
    """Header access by name (any case) for anything with `headers` as (name, value) pairs."""

    headers: list[tuple[str, str]]

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def header(self, name: str) -> str | None:
        values = self.header_values(name)
        return values[0] if values else None


@dataclass
class Recorded(HeaderLookup):
    """One request as the upstream application received it."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def from_json(cls, d: dict) -> "Recorded":
        raw = base64.b64decode(d["body"]) if d.get("body_encoding") == "base64" else d["body"].encode("utf-8")
        return cls(d["method"], d["path"], [(k, v) for k, v in d["headers"]], raw)



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


# --------------------------------------------------------------------------------------
# Envoy configuration, derived from envoy/envoy.yaml so tests and demo share filter settings.


def load_demo_config() -> dict:
    return yaml.safe_load(DEMO_ENVOY_YAML.read_text())


def _listener(cfg: dict) -> dict:
    return cfg["static_resources"]["listeners"][0]


def hcm(cfg: dict) -> dict:
    """The HttpConnectionManager typed_config of the (only) listener."""
    for f in _listener(cfg)["filter_chains"][0]["filters"]:
        if f["name"] == "envoy.filters.network.http_connection_manager":
            return f["typed_config"]
    raise KeyError("no http_connection_manager in the listener")


def wasm_plugin_config(cfg: dict) -> dict:
    """The wasm filter's PluginConfig (`typed_config.config`)."""
    for f in hcm(cfg)["http_filters"]:
        tc = f.get("typed_config", {})
        if tc.get("@type", "").endswith("envoy.extensions.filters.http.wasm.v3.Wasm"):
            return tc["config"]
    raise KeyError("no wasm filter in the demo config")


def demo_policy(cfg: dict | None = None) -> dict:
    cfg = cfg or load_demo_config()
    return json.loads(wasm_plugin_config(cfg)["configuration"]["value"])


def demo_env(cfg: dict | None = None) -> dict[str, str]:
    cfg = cfg or load_demo_config()
    return dict(wasm_plugin_config(cfg)["vm_config"].get("environment_variables", {}).get("key_values", {}))


def for_test(cfg: dict, upstream_port: int, wasm: Path = WASM) -> dict:
    """Rewrite a demo-shaped config for a test: kernel-chosen ports, the absolute path of
    the plugin build, the cluster pointed at the test's upstream. Nothing else changes."""
    cfg = copy.deepcopy(cfg)
    cfg["admin"]["address"]["socket_address"].update(address="127.0.0.1", port_value=0)
    _listener(cfg)["address"]["socket_address"].update(address="127.0.0.1", port_value=0)
    wasm_plugin_config(cfg)["vm_config"]["code"]["local"]["filename"] = str(wasm)
    for cluster in cfg["static_resources"]["clusters"]:
        for ep in cluster["load_assignment"]["endpoints"]:
            for lb in ep["lb_endpoints"]:
                lb["endpoint"]["address"]["socket_address"].update(address="127.0.0.1", port_value=upstream_port)
    return cfg


def build_config(
    policy: dict | str,
    upstream_port: int,
    env: Mapping[str, str] | None = None,
    *,
    listener: Mapping | None = None,
    filter_chain: Mapping | None = None,
    hcm_options: Mapping | None = None,
    plugin_options: Mapping | None = None,
    wasm: Path = WASM,
) -> dict:
    """An Envoy config with the demo's filter settings and the given policy.

    policy: a dict (serialised to JSON) or a string sent as is (for malformed-JSON tests).
    env: the VM's environment_variables.key_values (replaces the demo's secrets).
    listener / filter_chain / hcm_options / plugin_options: keys merged into the
    listener, its filter chain (e.g. a TLS `transport_socket`), the HttpConnectionManager
    and the wasm PluginConfig.
    """
    cfg = for_test(load_demo_config(), upstream_port, wasm)
    plugin = wasm_plugin_config(cfg)
    plugin["configuration"]["value"] = policy if isinstance(policy, str) else json.dumps(policy)
    plugin["vm_config"]["environment_variables"] = {"key_values": dict(env or {})}
    if plugin_options:
        plugin.update(copy.deepcopy(dict(plugin_options)))
    if hcm_options:
        hcm(cfg).update(copy.deepcopy(dict(hcm_options)))
    if listener:
        _listener(cfg).update(copy.deepcopy(dict(listener)))
    if filter_chain:
        _listener(cfg)["filter_chains"][0].update(copy.deepcopy(dict(filter_chain)))
    return cfg


# --------------------------------------------------------------------------------------
# A running Envoy.


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
                 wasm_log_level: str = "debug", secrets: Iterable[str] = ()):
        self.name = name
        self.cfg = cfg
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "envoy.yaml"
        self.log_path = workdir / "envoy.log"
        self.admin_address_path = workdir / "admin-address"
        self.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.secrets = [s for s in secrets if s]
        self.port = 0
        self.admin_port = 0
        # Envoy's own --log-path is flushed lazily (up to 10 s); stderr is written line by
        # line, so the log is complete the moment a test reads it.
        self._stdout = open(self.log_path, "wb")
        args = [
            str(ENVOY_BIN),
            "-c", str(self.config_path),
            # No shared-memory hot-restart socket, so several Envoys can run at once.
            "--disable-hot-restart",
            "--concurrency", str(concurrency),
            "-l", log_level,
            "--component-log-level", f"wasm:{wasm_log_level}",
            "--admin-address-path", str(self.admin_address_path),
        ]
        self.proc = subprocess.Popen(args, stdout=self._stdout, stderr=subprocess.STDOUT, cwd=workdir,
                                     preexec_fn=_die_with_parent)

    # -- lifecycle ---------------------------------------------------------------------

    def wait_ready(self, timeout: float = START_TIMEOUT) -> "Envoy":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EnvoyFailedToStart(f"envoy {self.name} exited with {self.proc.returncode}", self.log())
            if self.admin_address_path.exists() and self.admin_address_path.read_text().strip():
                self.admin_port = int(self.admin_address_path.read_text().strip().rsplit(":", 1)[1])
                try:
                    status, body = _http("GET", self.admin + "/ready", timeout=1)
                except OSError:
                    status, body = 0, b""
                if status == 200 and body.strip() == b"LIVE":
                    self.port = self._listener_port()
                    return self
            time.sleep(0.05)
        self.stop()
        raise EnvoyFailedToStart(f"envoy {self.name} not ready after {timeout}s", self.log())

    def _listener_port(self) -> int:
        status, body = _http("GET", self.admin + "/listeners?format=json")
        assert status == 200, body
        for ls in json.loads(body)["listener_statuses"]:
            return int(ls["local_address"]["socket_address"]["port_value"])
        raise RuntimeError("envoy reports no listener")

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


def require_wasm() -> None:
    if not WASM.is_file():
        raise FileNotFoundError(f"the plugin is not built: {WASM} is missing (run `make build`)")


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
                     wasm_log_level: str = "debug", secrets: Iterable[str] = ()) -> Envoy:
        """Start Envoy with a complete config (e.g. envoy/envoy.yaml passed through for_test)."""
        envoy = Envoy(name, cfg, self._next_dir(name), concurrency=concurrency, log_level=log_level,
                      wasm_log_level=wasm_log_level, secrets=secrets)
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
            if envoy.admin_address_path.exists() and envoy.admin_address_path.read_text().strip():
                envoy.admin_port = int(envoy.admin_address_path.read_text().strip().rsplit(":", 1)[1])
                try:
                    status, body = _http("GET", envoy.admin + "/ready", timeout=1)
                except OSError:
                    status, body = 0, b""
                if status == 200 and body.strip() == b"LIVE":
                    log = envoy.log()
                    envoy.stop()
                    raise AssertionError(f"envoy started with a configuration it should refuse\n{log[-4000:]}")
            time.sleep(0.05)
        envoy.stop()
        raise AssertionError(f"envoy neither exited nor became ready in {timeout}s\n{envoy.log()[-4000:]}")

    def stop_all(self) -> None:
        for e in self.started:
            e.stop()


# --------------------------------------------------------------------------------------
# HTTP/1.1 over a raw socket: exactly the bytes the test asks for.


@dataclass
class Response(HeaderLookup):
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    trailers: list[tuple[str, str]] = field(default_factory=list)


    def json(self):
        return json.loads(self.body)


class _Reader:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"connection closed mid-line; got {self.buf!r}")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError(f"connection closed after {len(self.buf)} of {n} body bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self) -> bytes:
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out


def read_http1_response(sock: socket.socket, method: str = "POST") -> Response:
    r = _Reader(sock)
    while True:
        status_line = r.line().decode("latin-1")
        parts = status_line.split(" ", 2)
        status = int(parts[1])
        headers: list[tuple[str, str]] = []
        while True:
            line = r.line()
            if not line:
                break
            k, v = line.decode("latin-1").split(":", 1)
            headers.append((k.strip().lower(), v.strip()))
        if 100 <= status < 200:
            continue  # 100 Continue: the real answer follows
        break
    resp = Response(status, headers, b"")
    te = (resp.header("transfer-encoding") or "").lower()
    if method == "HEAD" or status in (204, 304):
        return resp
    if "chunked" in te:
        chunks = []
        while True:
            size = int(r.line().split(b";", 1)[0].strip(), 16)
            if size == 0:
                while True:
                    t = r.line()
                    if not t:
                        break
                    k, v = t.decode("latin-1").split(":", 1)
                    resp.trailers.append((k.strip().lower(), v.strip()))
                break
            chunks.append(r.exactly(size))
            r.line()
        resp.body = b"".join(chunks)
    elif resp.header("content-length") is not None:
        resp.body = r.exactly(int(resp.header("content-length")))
    else:
        resp.body = r.rest()
    return resp


def _connect(port: int, timeout: float) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _head(method: str, path: str, headers: Headers, host: str | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None and not any(k.lower() == "host" for k, _ in headers):
        lines.append(f"Host: {host}")
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def http1(port: int, method: str, path: str, headers: Headers = (), body: bytes = b"", *,
          content_length: int | None | bool = True, host: str | None = "example.test",
          timeout: float = REQUEST_TIMEOUT) -> Response:
    """Send one HTTP/1.1 request with exactly these headers (repeats kept, order kept).

    content_length: True adds `Content-Length: len(body)` (unless the headers hold one or
    a Transfer-Encoding); an int declares that length whatever the body (a lie, if the
    test wants one); None/False adds nothing.
    """
    headers = list(headers)
    has_len = any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers)
    if content_length is True and not has_len and (body or method not in ("GET", "HEAD", "DELETE", "OPTIONS")):
        headers.append(("Content-Length", str(len(body))))
    elif isinstance(content_length, int) and not isinstance(content_length, bool):
        headers.append(("Content-Length", str(content_length)))
    with _connect(port, timeout) as sock:
        try:
            sock.sendall(_head(method, path, headers, host) + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the proxy may answer (413) and close before it read everything
        return read_http1_response(sock, method)


def http1_chunked(port: int, path: str, headers: Headers, chunks: Iterable[bytes], *, method: str = "POST",
                  delay: float = 0.0, trailers: Headers = (), host: str | None = "example.test",
                  timeout: float = REQUEST_TIMEOUT) -> Response:
    """Send a chunked body chunk by chunk (with `delay` between chunks, so the proxy sees them
    arrive separately). Stops sending if the proxy answers early and closes."""
    headers = list(headers) + [("Transfer-Encoding", "chunked")]
    with _connect(port, timeout) as sock:
        try:
            sock.sendall(_head(method, path, headers, host))
            for chunk in chunks:
                if delay:
                    time.sleep(delay)
                if chunk:
                    sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            tail = b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in trailers) + b"\r\n"
            sock.sendall(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_http1_response(sock, method)


class Http1Upload:
    """An HTTP/1.1 request sent step by step, so a test can look at the upstream while
    the body is still on its way:

        with Http1Upload(port, "/hooks/x", headers, content_length=n) as up:
            up.send(first_part)
            ...                          # inspect the upstream now
            up.send(rest)
            resp = up.response()

    content_length=None sends the body chunked (each send() one chunk; finish() ends it).
    """

    def __init__(self, port: int, path: str, headers: Headers, *, content_length: int | None,
                 method: str = "POST", host: str | None = "example.test", timeout: float = REQUEST_TIMEOUT):
        self.method = method
        self.chunked = content_length is None
        headers = list(headers)
        headers.append(("Transfer-Encoding", "chunked") if self.chunked else ("Content-Length", str(content_length)))
        self.sock = _connect(port, timeout)
        self.sock.sendall(_head(method, path, headers, host))
        self._finished = False

    def send(self, data: bytes) -> None:
        if self.chunked:
            data = b"%x\r\n" % len(data) + data + b"\r\n" if data else b""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def finish(self) -> None:
        if self.chunked and not self._finished:
            self._finished = True
            try:
                self.sock.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

    def response(self) -> Response:
        self.finish()
        return read_http1_response(self.sock, self.method)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "Http1Upload":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def http1_pieces(port: int, path: str, headers: Headers, pieces: Iterable[bytes], *, delay: float = 0.03,
                 method: str = "POST", host: str | None = "example.test", timeout: float = REQUEST_TIMEOUT) -> Response:
    """Declare the full Content-Length, then send the body in pieces with `delay` between
    them, so the proxy sees several body callbacks for one request."""
    pieces = list(pieces)
    headers = list(headers) + [("Content-Length", str(sum(len(p) for p in pieces)))]
    with _connect(port, timeout) as sock:
        try:
            sock.sendall(_head(method, path, headers, host))
            for piece in pieces:
                time.sleep(delay)
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_http1_response(sock, method)


def http1_declared_only(port: int, path: str, headers: Headers, declared_length: int, send: bytes = b"", *,
                        host: str | None = "example.test", timeout: float = REQUEST_TIMEOUT) -> Response:
    """Declare a Content-Length, send only `send` of the body, then wait for the answer:
    a proxy that checks the length before buffering answers without the rest."""
    headers = list(headers) + [("Content-Length", str(declared_length))]
    with _connect(port, timeout) as sock:
        try:
            sock.sendall(_head("POST", path, headers, host) + send)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_http1_response(sock, "POST")


# --------------------------------------------------------------------------------------
# HTTP/2 cleartext with prior knowledge (Envoy's codec_type AUTO accepts it), with trailers.


def http2(port: int, method: str, path: str, headers: Headers = (), body: bytes = b"", *,
          trailers: Headers = (), chunk_size: int = 16384, authority: str = "example.test",
          hold_open: bool = False, validate: bool = True, timeout: float = REQUEST_TIMEOUT) -> Response:
    """One HTTP/2 request over h2c. With `trailers`, the body is followed by a trailing
    HEADERS frame carrying END_STREAM (so the filter never sees end of stream in a body
    callback). Honours flow control for bodies larger than the initial window.
    hold_open: send the headers and `body` but never end the stream (a client still
    uploading); the answer has to come without the rest. validate=False sends headers
    the h2 library would refuse (a `host` that differs from `:authority`)."""
    config = h2.config.H2Configuration(client_side=True, header_encoding=None, validate_outbound_headers=validate)
    conn = h2.connection.H2Connection(config=config)
    with _connect(port, timeout) as sock:
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        sid = conn.get_next_available_stream_id()
        req_headers = [(":method", method), (":scheme", "http"), (":authority", authority), (":path", path)]
        req_headers += [(k.lower(), v) for k, v in headers]
        end_after_headers = not body and not trailers and not hold_open
        conn.send_headers(sid, req_headers, end_stream=end_after_headers)
        sock.sendall(conn.data_to_send())

        status = 0
        resp_headers: list[tuple[str, str]] = []
        resp_trailers: list[tuple[str, str]] = []
        resp_body = bytearray()
        done = False

        def pump(block: bool) -> None:
            nonlocal status, done
            if block:
                sock.settimeout(timeout)
            else:
                sock.setblocking(False)
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                return
            finally:
                sock.settimeout(timeout)
            if not data:
                done = True
                return
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    for k, v in ev.headers:
                        k, v = k.decode(), v.decode("latin-1")
                        if k == ":status":
                            status = int(v)
                        else:
                            resp_headers.append((k, v))
                elif isinstance(ev, h2.events.TrailersReceived) and ev.stream_id == sid:
                    resp_trailers.extend((k.decode(), v.decode("latin-1")) for k, v in ev.headers)
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    resp_body.extend(ev.data)
                    conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)) and ev.stream_id == sid:
                    done = True
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    done = True
            out = conn.data_to_send()
            if out:
                sock.sendall(out)

        # Send the body within the flow-control windows; an early answer (e.g. 401/413)
        # ends the exchange.
        view = memoryview(body)
        sent = 0
        try:
            while sent < len(view) and not done:
                window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size, chunk_size)
                if window <= 0:
                    pump(True)
                    continue
                piece = view[sent:sent + window]
                sent += len(piece)
                last = sent == len(view) and not trailers and not hold_open
                conn.send_data(sid, piece.tobytes(), end_stream=last)
                sock.sendall(conn.data_to_send())
                pump(False)
            if trailers and not done and not hold_open:
                conn.send_headers(sid, [(k.lower(), v) for k, v in trailers], end_stream=True)
                sock.sendall(conn.data_to_send())
        except (h2.exceptions.StreamClosedError, BrokenPipeError, ConnectionResetError):
            pass
        while not done:
            pump(True)
        return Response(status, resp_headers, bytes(resp_body), resp_trailers)


# --------------------------------------------------------------------------------------
# Other clients: a client socket bound to another loopback address (127.0.0.2 is another
# client to Envoy), and listeners on IPv6 loopback.


def listener_on(address: str) -> dict:
    """`listener=` override for EnvoyFactory.start: listen on `address` (e.g. "::1"),
    on a port the kernel picks."""
    return {"address": {"socket_address": {"address": address, "port_value": 0}}}


def connect_from(port: int, *, source: str | None = None, target: str = "127.0.0.1",
                 timeout: float = REQUEST_TIMEOUT) -> socket.socket:
    """A TCP connection to `target`:`port` (IPv4 or IPv6), from the local address
    `source` when given (e.g. "127.0.0.2": Envoy sees another client)."""
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        if source is not None:
            sock.bind((source, 0))
        sock.connect((target, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


def http1_from(port: int, method: str, path: str, headers: Headers = (), body: bytes = b"", *,
               source: str | None = None, target: str = "127.0.0.1", host: str | None = "example.test",
               timeout: float = REQUEST_TIMEOUT) -> Response:
    """Like http1 (Content-Length added for a body), over a new connection from `source`
    to `target` (see connect_from)."""
    headers = list(headers)
    if (body or method not in ("GET", "HEAD", "DELETE", "OPTIONS")) and not any(
            k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        headers.append(("Content-Length", str(len(body))))
    with connect_from(port, source=source, target=target, timeout=timeout) as sock:
        try:
            sock.sendall(_head(method, path, headers, host) + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_http1_response(sock, method)


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
