"""A mock of the Copyleaks API (`GET /v2/security/client-certificates`): a small HTTP(S)
server on a kernel-chosen 127.0.0.1 port whose answer per path a test can switch (a list,
garbage, an HTTP error, a slow answer), and which records every hit.

The same server can play Copyleaks' identity service (`POST /v3/account/login/api` with
the account's email and key, answered with `access_token` and `.expires`), and a list API
can accept only the tokens such an identity service issued and has not revoked."""

from __future__ import annotations

import datetime
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mtls import Cert

COPYLEAKS_PATH = "/v2/security/client-certificates"
COPYLEAKS_AUTHORITY = "api.copyleaks.com"
LOGIN_PATH = "/v3/account/login/api"
LOGIN_AUTHORITY = "id.copyleaks.com"


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    at: float
    sni: str | None = None
    method: str = "GET"
    body: bytes = b""
    # List API with token checks: whether the bearer token was one issued and still valid.
    authorized: bool | None = None


@dataclass
class Issued:
    token: str
    issued: float   # time.time()
    expires: float
    revoked: bool = False


def copyleaks_time(t: float) -> str:
    """A time as Copyleaks' login answer writes it: seven fractional digits and an offset."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"


@dataclass
class Answer:
    mode: str = "list"          # list | garbage | status | slow
    document: object = None     # the JSON answered in mode list (and, late, in mode slow)
    status: int = 500
    delay: float = 3.0


@dataclass
class MockApi:
    """A small HTTP(S) server answering each path as a test says, counting its hits.

        api = MockApi.start()                    # plain HTTP
        api = MockApi.start(server_cert=cert)    # TLS with this certificate (and key)
        api.answer(path, list=[...])  /  api.answer(path, garbage=True)
        api.answer(path, status=500)  /  api.answer(path, slow=3.0)
    """

    server: ThreadingHTTPServer
    thread: threading.Thread
    answers: dict[str, Answer] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tls: bool = False
    # Identity service: the JSON a login must post, the lifetime of its tokens, and a
    # status to answer every login with instead (429, 503 ...).
    credentials: dict | None = None
    lifetime: float = 48 * 3600
    login_status: int | None = None
    issued: list[Issued] = field(default_factory=list)
    # List API: accept only bearer tokens this identity service issued.
    token_source: "MockApi | None" = None

    @classmethod
    def start(cls, server_cert: Cert | None = None) -> "MockApi":
        holder: dict = {}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # quiet
                pass

            def do_POST(self):
                api: MockApi = holder["api"]
                path = self.path.split("?", 1)[0]
                body = self._body()
                sni = getattr(self.server, "last_sni", None) if api.tls else None
                headers = {k.lower(): v for k, v in self.headers.items()}
                with api.lock:
                    api.hits.append(Hit(path, headers, time.monotonic(), sni, "POST", body))
                if path != LOGIN_PATH or api.credentials is None:
                    return self._send(404, b'{"error":"no such path in the mock"}')
                if api.login_status is not None:
                    return self._send(api.login_status, b'{"error":"mock failure"}')
                try:
                    sent = json.loads(body)
                except ValueError:
                    sent = None
                if headers.get("content-type") != "application/json" or sent != api.credentials:
                    return self._send(401, b'{"error":"invalid email or key"}')
                now = time.time()
                with api.lock:
                    token = f"tok{len(api.issued) + 1}-{secrets.token_hex(12)}"
                    api.issued.append(Issued(token, now, now + api.lifetime))
                self._send(200, json.dumps({"access_token": token, ".issued": copyleaks_time(now),
                                            ".expires": copyleaks_time(now + api.lifetime)}).encode())

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        chunk = self.rfile.read(size + 2)[:size]
                        if size == 0:
                            return out
                        out += chunk
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self):
                api: MockApi = holder["api"]
                path = self.path.split("?", 1)[0]
                sni = getattr(self.server, "last_sni", None) if api.tls else None
                headers = {k.lower(): v for k, v in self.headers.items()}
                authorized = None
                if api.token_source is not None:
                    given = headers.get("authorization", "")
                    authorized = given.startswith("Bearer ") and api.token_source.valid(given[len("Bearer "):])
                with api.lock:
                    api.hits.append(Hit(path, headers, time.monotonic(), sni, authorized=authorized))
                    ans = api.answers.get(path)
                if authorized is False:
                    return self._send(401, b'{"error":"unauthorized"}')
                if ans is None:
                    return self._send(404, b'{"error":"no such path in the mock"}')
                if ans.mode == "status":
                    return self._send(ans.status, b'{"error":"mock failure"}')
                if ans.mode == "garbage":
                    return self._send(200, b"<html>502 Bad Gateway, but answered 200</html>", "text/html")
                if ans.mode == "slow":
                    time.sleep(ans.delay)
                try:
                    self._send(200, json.dumps(ans.document).encode())
                except OSError:
                    pass  # the caller gave up (slow answer)

            def _send(self, status: int, body: bytes, ctype: str = "application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            last_sni: str | None = None

            def handle_error(self, request, client_address):
                pass  # broken pipes of slow answers, handshakes gone wrong

        server = Server(("127.0.0.1", 0), Handler)
        tls = server_cert is not None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(server_cert.chain or server_cert.cert), str(server_cert.key))

            def remember_sni(sock, name, _ctx):
                server.last_sni = name
                return None

            ctx.sni_callback = remember_sni
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        api = cls(server, thread, tls=tls)
        holder["api"] = api
        thread.start()
        return api

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def answer(self, path: str = COPYLEAKS_PATH, *, list: object = None, garbage: bool = False,
               status: int | None = None, slow: float | None = None) -> None:
        with self.lock:
            if garbage:
                a = Answer("garbage")
            elif status is not None:
                a = Answer("status", status=status)
            elif slow is not None:
                a = Answer("slow", document=list, delay=slow)
            else:
                a = Answer("list", document=list)
            self.answers[path] = a

    def identity(self, credentials: dict, lifetime: float) -> "MockApi":
        """Answer logins that post exactly `credentials` with a token valid `lifetime` seconds."""
        with self.lock:
            self.credentials, self.lifetime = credentials, lifetime
        return self

    def valid(self, token: str) -> bool:
        now = time.time()
        with self.lock:
            return any(i.token == token and not i.revoked and now < i.expires for i in self.issued)

    def revoke_all(self) -> None:
        with self.lock:
            for i in self.issued:
                i.revoked = True

    def tokens(self) -> list[Issued]:
        with self.lock:
            return list(self.issued)

    def hits_of(self, path: str = COPYLEAKS_PATH) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
