"""The one interface every check kind implements.

A checker module exposes `check(monitor, session, now) -> Result` and
`validate(target, settings) -> {field: message}`. It never raises for a target's
failure: every failure is a Result with outcome "down" and a message a person can
act on. The session carries what a worker reuses between checks (keep-alive HTTP
connections, TLS contexts).
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import requests
from requests.adapters import HTTPAdapter

if TYPE_CHECKING:
    from monitors.models import Monitor

OK, DEGRADED, DOWN = "ok", "degraded", "down"
MESSAGE_LIMIT = 200


@dataclass
class Result:
    outcome: str
    latency_ms: int | None = None
    status_code: int | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in (OK, DEGRADED, DOWN):
            raise ValueError(f"outcome must be ok, degraded or down, not {self.outcome!r}")
        self.message = self.message[:MESSAGE_LIMIT]


def ok(message: str = "", **kwargs: Any) -> Result:
    return Result(OK, message=message, **kwargs)


def degraded(message: str, **kwargs: Any) -> Result:
    return Result(DEGRADED, message=message, **kwargs)


def down(message: str, **kwargs: Any) -> Result:
    return Result(DOWN, message=message, **kwargs)


class Checker(Protocol):
    def check(self, monitor: Monitor, session: CheckSession, now: datetime) -> Result: ...

    def validate(self, target: str, settings: dict[str, Any]) -> dict[str, str]: ...


class WatchedAdapter(HTTPAdapter):
    """An adapter whose connections obey watchdog.deadline_guard (hard total timeouts)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        from monitors.checkers.watchdog import POOL_CLASSES

        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES


class CheckSession:
    """Per-thread reusable clients: one requests.Session per thread, shared TLS contexts; and the
    region the checks run from (a worker's sessions have one; an ad-hoc check, such as the
    monitor form's trial run, has None and keeps no history between checks)."""

    def __init__(self, region: str | None = None) -> None:
        self.region = region
        self._local = threading.local()
        self._contexts: dict[bool, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    @property
    def http(self) -> requests.Session:
        session = getattr(self._local, "http", None)
        if session is None:
            session = requests.Session()
            adapter = WatchedAdapter(pool_connections=16, pool_maxsize=16, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = "Vigil-Monitor/0.1 (+https://github.com/vigil)"
            self._local.http = session
        return session

    def ssl_context(self, verify: bool = True) -> ssl.SSLContext:
        with self._lock:
            context = self._contexts.get(verify)
            if context is None:
                context = ssl.create_default_context()
                if not verify:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self._contexts[verify] = context
            return context

    def close(self) -> None:
        session = getattr(self._local, "http", None)
        if session is not None:
            session.close()


class Deadline:
    """A hard total time budget for one check."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def expired(self) -> bool:
        return self.remaining() <= 0

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


def describe_error(exc: BaseException) -> str:
    """A short, readable cause for a connection-level failure."""
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known", "Connection reset",
                   "certificate verify failed", "Temporary failure in name resolution", "No route to host"):
        if marker.lower() in text.lower():
            return marker.lower() if marker != "timed out" else "timed out"
    return f"{type(exc).__name__}: {text}"[:MESSAGE_LIMIT]
