#!/usr/bin/env python3
"""The demo upstream: an "application" that shows exactly what reached it.

Every request on the main port is recorded and answered 200 with a JSON echo:

    {"received": {"method": ..., "path": ..., "headers": [[name, value], ...],
                  "body": ..., "body_encoding": "text" | "base64"}}

so a person running the demo with curl sees what webhook-guard let through.

An optional control port (--control-port) is for tests:

    GET  /requests      the recorded requests, oldest first (same shape as "received")
    GET  /seen          every request whose headers arrived, even if its body never did
                        (method, path, headers): shows whether a proxy let headers through
                        before it had verified the body
    POST /reset         forget the recorded requests and any pending status override
    POST /next-status   body {"status": 503, "count": 1}: the next `count` answers on the
                        main port use that status (still recorded), then back to 200

Standard library only, so it runs unchanged in python:3.12-slim (docker-compose.yml).
"""

from __future__ import annotations

import argparse
import base64
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorder:
    """The recorded requests and the pending status override, shared by both ports."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[dict] = []
        self._seen: list[dict] = []
        self._override_status = 200
        self._override_count = 0

    def record(self, entry: dict) -> int:
        """Store one request and return the status to answer it with."""
        with self._lock:
            self._requests.append(entry)
            if self._override_count > 0:
                self._override_count -= 1
                return self._override_status
            return 200

    def saw_headers(self, entry: dict) -> None:
        with self._lock:
            self._seen.append(entry)

    def requests(self) -> list[dict]:
        with self._lock:
            return list(self._requests)

    def seen(self) -> list[dict]:
        with self._lock:
            return list(self._seen)

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._seen.clear()
            self._override_count = 0
            self._override_status = 200

    def next_status(self, status: int, count: int) -> None:
        with self._lock:
            self._override_status = status
            self._override_count = count


def encode_body(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so Envoy can reuse its upstream connections
    server_version = "webhook-guard-demo-upstream"
    sys_version = ""
    recorder: Recorder  # set on the subclass per server
    quiet = False

    def log_message(self, fmt: str, *args) -> None:  # noqa: D401 - stdlib signature
        if not self.quiet:
            sys.stderr.write("upstream: %s - %s\n" % (self.address_string(), fmt % args))

    def _read_body(self) -> bytes:
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers (if any) end with an empty line.
                    while self.rfile.readline(65537).strip():
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)  # CRLF after the chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, status: int, payload: object) -> None:
        data = json.dumps(payload, indent=2).encode("utf-8") + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class AppHandler(_Handler):
    """The main port: record, then echo."""

    def _handle(self) -> None:
        # The target as on the request line: http.server rewrites a leading `//` in self.path.
        parts = self.requestline.split(" ")
        target = parts[1] if len(parts) == 3 else self.path
        head = {"method": self.command, "path": target, "headers": [[k, v] for k, v in self.headers.items()]}
        self.recorder.saw_headers(head)
        raw = self._read_body()
        body, encoding = encode_body(raw)
        entry = {**head, "body": body, "body_encoding": encoding}
        status = self.recorder.record(entry)
        self._send_json(status, {"received": entry})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle


class ControlHandler(_Handler):
    """The control port: inspect and steer the main port (tests only)."""

    def do_GET(self) -> None:
        self._read_body()
        if self.path == "/requests":
            self._send_json(200, self.recorder.requests())
        elif self.path == "/seen":
            self._send_json(200, self.recorder.seen())
        else:
            self._send_json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        raw = self._read_body()
        if self.path == "/reset":
            self.recorder.reset()
            self._send_json(200, {"ok": True})
        elif self.path == "/next-status":
            try:
                spec = json.loads(raw or b"{}")
                status = int(spec["status"])
                count = int(spec.get("count", 1))
                if not 100 <= status <= 599 or count < 0:
                    raise ValueError("status must be 100..599 and count >= 0")
            except (ValueError, KeyError, TypeError) as err:
                self._send_json(400, {"error": str(err)})
                return
            self.recorder.next_status(status, count)
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, {"error": "not_found"})


def make_server(host: str, port: int, handler: type, recorder: Recorder, quiet: bool) -> ThreadingHTTPServer:
    cls = type(handler.__name__, (handler,), {"recorder": recorder, "quiet": quiet})
    server = ThreadingHTTPServer((host, port), cls)
    server.daemon_threads = True
    return server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="main port (default 8080; 0: any free port)")
    parser.add_argument("--control-port", type=int, default=None, help="control port for tests (default: none)")
    parser.add_argument("--control-host", default=None,
                        help="address of the control port (default: --host); in a container whose main port only "
                             "its sidecar may reach, the control port can still be published")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    recorder = Recorder()
    servers = [make_server(args.host, args.port, AppHandler, recorder, args.quiet)]
    if args.control_port is not None:
        control_host = args.host if args.control_host is None else args.control_host
        servers.append(make_server(control_host, args.control_port, ControlHandler, recorder, True))

    # SIGTERM (docker stop, tests) ends the process cleanly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    ports = ", ".join(f"{s.server_address[0]}:{s.server_address[1]}" for s in servers)
    print(f"demo upstream listening on {ports}", file=sys.stderr, flush=True)
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for s in servers:
            s.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
