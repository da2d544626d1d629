"""Shared pieces of the fault scenarios: a web process, a TCP proxy that can be cut, a Redis of the test's own."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import requests

from tests.processes import BIN, Process, free_port, process_env, wait_for_http, wait_until

__all__ = ["free_port"]  # tests import it from here too


def start_web(log_dir: Path, name: str = "web", port: int | None = None, **env: str) -> tuple[Process, str]:
    """Daphne serving the real ASGI app, as in production (DEBUG off)."""
    port = port or free_port()
    process = Process(name, [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
                      process_env(**env), log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/ready", process)
    return process, url


class Proxy:
    """A TCP relay to a real server; `cut()` drops every connection and refuses new ones, `restore()` reopens."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self.open = True
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        with self.lock:
            self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _admits(self, listener: socket.socket) -> bool:
        """Still open and still this listener's turn (call with the lock held)."""
        return self.open and listener is self.listener

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self.lock:
                admitted = self._admits(listener)
            upstream = None
            if admitted:
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    upstream = None
            with self.lock:
                # A connection accepted just before a cut must not get through after it.
                if upstream is not None and self._admits(listener):
                    self.connections += [client, upstream]
                    upstream.settimeout(None)
                else:
                    for end in (client, upstream):
                        if end is not None:
                            end.close()
                    continue
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.close()
                except OSError:
                    pass

    def cut(self) -> None:
        """Stop listening and drop every open connection at once; connecting is refused until restore()."""
        with self.lock:
            self.open = False
            listener, self.listener = self.listener, None
            connections, self.connections = self.connections, []
        if listener is not None:
            # close() alone does not wake a thread blocked in accept(): the kernel keeps the
            # socket listening until that call returns, and it would accept one more client.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def restore(self) -> None:
        with self.lock:
            self.open = True
        self._listen()

    def close(self) -> None:
        self.cut()


class OwnRedis:
    """A redis-server on a free port, started and stopped by the test."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary, self.directory, self.port = binary, directory, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                         "--dir", str(self.directory), "--maxmemory-policy", "noeviction"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.answering, 10, "redis-server did not start")

    def answering(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def outage_seconds() -> float:
    """How long each outage lasts: 60 s as the scenarios say; VIGIL_FAULT_SECONDS shortens it for a quick local run."""
    import os

    return float(os.environ.get("VIGIL_FAULT_SECONDS", "60"))


def poll(url: str, seconds: float, every: float = 1.0, **kwargs: object) -> list[int]:
    """Status codes of GET url, every `every` seconds for `seconds` (connection errors as 0)."""
    codes = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            codes.append(requests.get(url, timeout=5, **kwargs).status_code)  # type: ignore[arg-type]
        except requests.RequestException:
            codes.append(0)
        time.sleep(every)
    return codes
