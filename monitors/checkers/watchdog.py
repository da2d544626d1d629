"""Hard deadlines for blocking network I/O.

urllib3's read timeout restarts with every byte, so a server that drips one byte
a second would hold a check (and its worker thread) forever. Sockets opened or
used during a guarded block are registered here; one watchdog thread shuts them
down when the block's deadline passes, which wakes any blocked read at once.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


class _Guard:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.sockets: list[socket.socket] = []
        self.fired = False
        self.lock = threading.Lock()

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self.lock:
            self.sockets.append(sock)
            fired = self.fired
        if fired:
            _shutdown(sock)

    def fire(self) -> None:
        with self.lock:
            self.fired = True
            sockets = list(self.sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Watchdog:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Guard]] = []
        self._counter = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, guard: _Guard) -> None:
        with self._condition:
            heapq.heappush(self._heap, (guard.deadline, next(self._counter), guard))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="vigil-check-watchdog", daemon=True)
                self._thread.start()
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap:
                    self._condition.wait()
                deadline, _, guard = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._heap)
            if not getattr(guard, "done", False):
                guard.fire()


_watchdog = _Watchdog()


@contextmanager
def deadline_guard(seconds: float) -> Iterator[_Guard]:
    """Sockets used by HTTP requests inside this block are shut down after `seconds`."""
    guard = _Guard(time.monotonic() + seconds)
    previous = getattr(_local, "guard", None)
    _local.guard = guard
    _watchdog.watch(guard)
    try:
        yield guard
    finally:
        guard.done = True  # type: ignore[attr-defined]
        _local.guard = previous


def register_socket(sock: socket.socket | None) -> None:
    guard = getattr(_local, "guard", None)
    if guard is not None:
        guard.add(sock)


class _Watched:
    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        register_socket(self.sock)

    def getresponse(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # A kept-alive connection was registered by an earlier check: register again.
        register_socket(self.sock)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


POOL_CLASSES = {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}
