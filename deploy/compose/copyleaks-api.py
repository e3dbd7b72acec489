#!/usr/bin/env python3
"""A stand-in for the Copyleaks API and its identity service in the compose stack, HTTPS on
--port (the network aliases api.copyleaks.com and id.copyleaks.com both lead here):

- `POST /v3/account/login/api` with the JSON {"email": $COPYLEAKS_EMAIL, "key":
  $COPYLEAKS_API_KEY} answers a new access token and its `.expires` (--token-seconds
  from now), as Copyleaks' login does; anything else posted gets 401;
- `GET /v2/security/client-certificates` answers the JSON document in --list (read on
  every request, so it can be changed while the stack runs) when the Authorization header
  is `Bearer <a token issued here that has not expired>`, and 401 otherwise, as the real
  API does with a bad token.

A second port (--control-port, plain HTTP) is for tests: `GET /hits` lists the requests
the API port received (method, path, Host, SNI, whether the token or the login matched).

Standard library only, so it runs in the same Python image as demo/upstream.py.
"""

from __future__ import annotations

import argparse
import datetime
import hmac
import json
import os
import secrets
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LIST_PATH = "/v2/security/client-certificates"
LOGIN_PATH = "/v3/account/login/api"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--control-port", type=int, default=8082)
    parser.add_argument("--cert", required=True, help="server certificate chain (PEM), for api.copyleaks.com")
    parser.add_argument("--key", required=True)
    parser.add_argument("--list", required=True, help="the JSON document to answer")
    parser.add_argument("--token-seconds", type=float, default=48 * 3600, help="lifetime of the tokens issued")
    args = parser.parse_args()

    credentials = {"email": os.environ.get("COPYLEAKS_EMAIL", ""), "key": os.environ.get("COPYLEAKS_API_KEY", "")}
    if not all(credentials.values()):
        print("copyleaks-api: COPYLEAKS_EMAIL and COPYLEAKS_API_KEY must be set", file=sys.stderr)
        return 2
    issued: dict[str, float] = {}  # token -> expiry (time.time())
    hits: list[dict] = []
    lock = threading.Lock()
    sni: dict[int, str | None] = {}

    class Api(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            sys.stderr.write("copyleaks-api: %s\n" % (fmt % a))

        def record(self, method: str, path: str, authorized: bool) -> None:
            with lock:
                hits.append({"method": method, "path": path, "host": self.headers.get("Host"),
                             "authorized": authorized, "sni": sni.get(id(self.request))})

        def do_POST(self):
            path = self.path.split("?", 1)[0]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                sent = json.loads(body)
            except ValueError:
                sent = None
            ok = isinstance(sent, dict) and set(sent) == set(credentials) and all(
                isinstance(sent[k], str) and hmac.compare_digest(sent[k].encode(), v.encode())
                for k, v in credentials.items())
            self.record("POST", path, ok)
            if path != LOGIN_PATH:
                return self.send(404, b'{"error":"not found"}')
            if not ok:
                return self.send(401, b'{"error":"invalid email or key"}')
            now = time.time()
            token = secrets.token_urlsafe(24)
            with lock:
                issued[token] = now + args.token_seconds

            def when(t: float) -> str:
                return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()

            self.send(200, json.dumps({"access_token": token, ".issued": when(now),
                                       ".expires": when(now + args.token_seconds)}).encode())

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            given = self.headers.get("Authorization", "")
            with lock:
                expiry = issued.get(given[len("Bearer "):]) if given.startswith("Bearer ") else None
            authorized = expiry is not None and time.time() < expiry
            self.record("GET", path, authorized)
            if path != LIST_PATH:
                return self.send(404, b'{"error":"not found"}')
            if not authorized:
                return self.send(401, b'{"error":"unauthorized"}')
            try:
                with open(args.list, "rb") as f:
                    doc = f.read()
                json.loads(doc)
            except (OSError, ValueError) as err:
                return self.send(500, json.dumps({"error": str(err)}).encode())
            self.send(200, doc)

        def send(self, status: int, body: bytes):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Control(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            with lock:
                body = json.dumps(hits).encode()
            self.send_response(200 if self.path == "/hits" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)

    def remember_sni(sock, name, _ctx):
        sni[id(sock)] = name

    ctx.sni_callback = remember_sni
    api = ThreadingHTTPServer(("0.0.0.0", args.port), Api)
    api.daemon_threads = True
    api.socket = ctx.wrap_socket(api.socket, server_side=True)
    control = ThreadingHTTPServer(("0.0.0.0", args.control_port), Control)
    control.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=control.serve_forever, daemon=True).start()
    print(f"copyleaks-api listening on :{args.port} (TLS), control :{args.control_port}", file=sys.stderr, flush=True)
    api.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
