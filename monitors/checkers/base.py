"""The one interface every check kind implements.

A checker module exposes `check(monitor, session, now) -> Result` and
`validate(target, settings) -> {field: message}`. It never raises for a target's
failure: every failure is a Result with outcome "down" and a message a person can
act on. The session carries what a worker reuses between checks (keep-alive HTTP
connections, TLS contexts).
"""

from __future__ import annotations

import asyncio
import errno
import os
import ssl
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

import aiohttp
import uvloop
from requests.certs import where as requests_ca_bundle

if TYPE_CHECKING:
    from monitors.models import Monitor

OK, DEGRADED, DOWN = "ok", "degraded", "down"
USER_AGENT = "Vigil-Monitor/0.1 (+https://github.com/vigil)"
T = TypeVar("T")
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


class CheckSession:
    """What a worker process reuses between checks: one asyncio loop in its own thread with one
    keep-alive HTTP client (every HTTP check of the process runs there, many in flight at once),
    shared TLS contexts for the other kinds; and the region the checks run
    from (a worker's sessions have one; an ad-hoc check, such as the monitor form's trial run, has
    None and keeps no history between checks)."""

    def __init__(self, region: str | None = None) -> None:
        self.region = region
        self._contexts: dict[bool, ssl.SSLContext] = {}
        self._http_contexts: dict[bool, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str] | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The session's event loop (uvloop: a quarter less CPU per HTTP check than asyncio's own loop,
        bench: checks per second), started on first use in a daemon thread."""
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = uvloop.new_event_loop()
                threading.Thread(target=loop.run_forever, name="vigil-check-loop", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the session's loop and wait for it (from any thread but the loop's)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def http_client(self) -> aiohttp.ClientSession:
        """The keep-alive HTTP client; called on the session's loop."""
        if self._client is None or self._client.closed:
            # No limit on connections: a check's own hard deadline bounds it, and a batch's checks run at once.
            # Cookies as requests kept them (IP-address hosts too), proxies from the environment as requests took them.
            # Proxies from the environment are looked up by http_proxy_for (aiohttp's trust_env would hop to a
            # thread twice per request to read them and ~/.netrc).
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0),
                cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"User-Agent": USER_AGENT},
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._client

    def http_proxy_for(self, url: str) -> str | None:
        """The proxy requests would have used for this URL (HTTP_PROXY, HTTPS_PROXY, NO_PROXY, read once)."""
        if self._proxies is None:
            self._proxies = getproxies_environment()
        if not self._proxies:
            return None
        parts = urlsplit(url)
        if parts.hostname and proxy_bypass_environment(parts.hostname, self._proxies):
            return None
        return self._proxies.get(parts.scheme) or self._proxies.get("all")

    def http_ssl_context(self, verify: bool = True) -> ssl.SSLContext:
        """TLS for HTTP checks: the CA bundle requests verified against (certifi), or no verification."""
        with self._lock:
            context = self._http_contexts.get(verify)
            if context is None:
                context = ssl.create_default_context(cafile=requests_ca_bundle())
                if not verify:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                self._http_contexts[verify] = context
            return context

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
        loop = self._loop
        if loop is not None and not loop.is_closed():
            client = self._client
            if client is not None:
                self.run(client.close(), timeout=5)
            loop.call_soon_threadsafe(loop.stop)


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
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection closed by the server"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "certificate verify failed"
    if isinstance(exc, aiohttp.ClientOSError) and not isinstance(exc, aiohttp.ClientConnectorDNSError) and (exc.errno or 0) > 0:
        # aiohttp words a refused connection "Connect call failed"; the errno says what happened.
        exc = OSError(exc.errno, os.strerror(exc.errno) if exc.errno != errno.ETIMEDOUT else "timed out")
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known", "Connection reset",
                   "certificate verify failed", "Temporary failure in name resolution", "No route to host"):
        if marker.lower() in text.lower():
            return marker.lower() if marker != "timed out" else "timed out"
    return f"{type(exc).__name__}: {text}"[:MESSAGE_LIMIT]
