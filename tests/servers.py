"""Real local servers for checker tests: HTTP with routes, raw sockets that misbehave, and a TLS
listener presenting a chosen certificate."""

from __future__ import annotations

import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

Route = Callable[[BaseHTTPRequestHandler], None]


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: a worker opens a whole batch's connections at once
    # (every HTTP check of a batch is in flight together), and SYNs past the backlog wait a 1 s
    # retransmit, which a 2 s check timeout then reports as "no response".
    request_queue_size = 128


class HTTPServer:
    """ThreadingHTTPServer on 127.0.0.1 with a dict of path -> handler; counts connections."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.connections = 0
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                server.connections += 1
                super().setup()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", "0") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append((self.command, self.path, dict(self.headers), body))
                route = routes.get(self.path.split("?")[0])
                if route is None:
                    respond(self, 404, b"not found")
                else:
                    route(self)

            do_GET = do_POST = do_HEAD = do_PUT = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def respond(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


class RawServer:
    """A TCP listener whose every connection is handled by `behaviour(conn)` in a thread."""

    def __init__(self, behaviour: Callable[[socket.socket], None]) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.closed = threading.Event()
        self.behaviour = behaviour
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.behaviour(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.closed.set()
        self.listener.close()


def read_request(conn: socket.socket) -> None:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk


def hang(conn: socket.socket) -> None:
    """Accepts, reads the request, never answers."""
    read_request(conn)
    time.sleep(30)


def slowloris(conn: socket.socket) -> None:
    """Answers one byte every 0.2 s, forever."""
    read_request(conn)
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000:
        conn.sendall(bytes([byte]))
        time.sleep(0.2)


def huge_body(conn: socket.socket) -> None:
    """Sends a 50 MB body as fast as the client reads it."""
    read_request(conn)
    size = 50 * 1024 * 1024
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {size}\r\n\r\n".encode())
    chunk = b"a" * 65536
    for _ in range(size // len(chunk)):
        conn.sendall(chunk)


def reset(conn: socket.socket) -> None:
    """Reads the request, then resets the connection (RST, not FIN)."""
    read_request(conn)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class TLSServer:
    """A TLS listener on 127.0.0.1 that presents `cert` (signed for `key`), completes the handshake
    and waits for the client to close: what the tls kind needs, which reads the peer's certificate
    and sends nothing. Connections are served one at a time in one thread; a failed handshake (an
    untrusted certificate, a wrong host name) is the client's verdict and only ends that connection.

    Use it as a context manager, or call close()."""

    def __init__(self, key: CertificateIssuerPrivateKeyTypes, cert: x509.Certificate) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # load_cert_chain reads only files; the context keeps what it loaded, so the files can go.
        with tempfile.TemporaryDirectory() as directory:
            cert_file, key_file = Path(directory) / "cert.pem", Path(directory) / "key.pem"
            cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
            self.context.load_cert_chain(cert_file, key_file)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.recv(1)
            except (OSError, ssl.SSLError):
                pass

    def close(self) -> None:
        # shutdown wakes the accept() blocked in _serve (close alone leaves it waiting on Linux).
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()
