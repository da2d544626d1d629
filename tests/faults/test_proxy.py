"""The fault suite's TCP proxy: a cut is a real outage (nothing gets through until restored)."""

from __future__ import annotations

import socket
import socketserver
import threading

import pytest

from tests.faults.helpers import Proxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(1024):
            self.request.sendall(data)


@pytest.fixture
def proxy():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    relay = Proxy(server.server_address[1])
    yield relay
    relay.close()
    server.shutdown()
    server.server_close()


def _echoes(port: int) -> bool:
    """True when a new connection through the proxy reaches the server and back."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"ping")
            return conn.recv(16) == b"ping"
    except OSError:
        return False


def test_a_cut_proxy_lets_no_new_connection_through_until_restored(proxy):
    assert _echoes(proxy.port)
    proxy.cut()
    assert [_echoes(proxy.port) for _ in range(3)] == [False, False, False]
    proxy.restore()
    assert _echoes(proxy.port)


def test_a_cut_drops_the_connections_already_open(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as conn:
        conn.sendall(b"one")
        assert conn.recv(16) == b"one"
        proxy.cut()
        try:
            conn.sendall(b"two")
            answer = conn.recv(16)
        except OSError:
            answer = b""
        assert answer == b""
