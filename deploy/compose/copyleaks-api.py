#!/usr/bin/env python3
"""A stand-in for the Copyleaks API in the compose stack: HTTPS on --port, answering
`GET /v2/security/client-certificates` with the JSON document in --list (read on every
request, so it can be changed while the stack runs) when the Authorization header equals
$COPYLEAKS_TOKEN, and 401 otherwise, as the real API does with a bad token.

A second port (--control-port, plain HTTP) is for tests: `GET /hits` lists the requests
the API port received (path, Host, SNI, whether the token matched).

Standard library only, so it runs in the same Python image as demo/upstream.py.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import signal
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LIST_PATH = "/v2/security/client-certificates"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--control-port", type=int, default=8082)
    parser.add_argument("--cert", required=True, help="server certificate chain (PEM), for api.copyleaks.com")
    parser.add_argument("--key", required=True)
    parser.add_argument("--list", required=True, help="the JSON document to answer")
    args = parser.parse_args()

    token = os.environ.get("COPYLEAKS_TOKEN", "")
    if not token:
        print("copyleaks-api: COPYLEAKS_TOKEN is not set", file=sys.stderr)
        return 2
    hits: list[dict] = []
    lock = threading.Lock()
    sni: dict[int, str | None] = {}

    class Api(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            sys.stderr.write("copyleaks-api: %s\n" % (fmt % a))

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            authorized = hmac.compare_digest(self.headers.get("Authorization", "").encode(), token.encode())
            with lock:
                hits.append({"path": path, "host": self.headers.get("Host"), "authorized": authorized,
                             "sni": sni.get(id(self.request))})
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
