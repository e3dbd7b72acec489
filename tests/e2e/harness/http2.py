"""HTTP/2 cleartext with prior knowledge (Envoy's codec_type AUTO accepts it), with
trailers."""

from __future__ import annotations

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from .http1 import _connect
from .messages import Response
from .settings import REQUEST_TIMEOUT, Headers


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
