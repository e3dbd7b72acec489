"""HTTP/1.1 over a raw socket: exactly the bytes the test asks for (repeated headers, a
lying Content-Length, chunked bodies, a body sent in pieces), optionally from another
loopback address (127.0.0.2 is another client to Envoy)."""

from __future__ import annotations

import socket
import time
from typing import Iterable

from .messages import Response
from .settings import REQUEST_TIMEOUT, Headers


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
