"""Heartbeat pings answered before Django's handler: /ping/<token>[/start|/fail|/<exit code>].

A ping is a token lookup (an in-process cache, monitors.pings), a rate count and an append
to the Redis stream that `drain` applies in batches; Django's ASGI handler and middleware
chain would cost many times that. Same answers as monitors.views.ping; a request this layer
does not take (another method, a malformed path, a host not allowed) goes to Django.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast
from uuid import UUID

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils import timezone

from core import metrics
from monitors import pings, services
from monitors.views import PING_BODY_LIMIT

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The uuid path converter's pattern (monitors/urls.py), then the variants.
PING_PATH = re.compile(r"^/ping/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:/(start|fail|[0-9]+))?$")


class PingASGI:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.hosts: dict[bytes, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "POST", "HEAD"):
            return await self.app(scope, receive, send)
        match = PING_PATH.match(scope["path"])
        if match is None or not self._allowed_host(dict(scope["headers"]).get(b"host", b"")):
            return await self.app(scope, receive, send)
        token, variant = UUID(match.group(1)), match.group(2)
        body = await _read_body(receive) if scope["method"] == "POST" else b""
        status, text, extra = await self._ping(token, variant, body)
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode()),
                   (b"x-content-type-options", b"nosniff"), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else text})

    async def _ping(self, token: UUID, variant: str | None, body: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        cached = pings.cached_lookup(token)
        found = await sync_to_async(pings.lookup)(token) if cached is pings.NOT_CACHED else cast("tuple[int, bool] | None", cached)
        if found is None:
            return 404, b"not found: no heartbeat monitor has this ping URL\n", []
        exit_code = int(variant) if variant and variant.isdigit() else None
        if exit_code is not None and exit_code > 255:
            return 400, b"exit code must be 0-255\n", []
        monitor_id, paused = found
        if paused:
            return 200, b"OK (monitor paused; ping ignored)\n", []
        now = timezone.now()
        if pings.over_rate(monitor_id, now):
            metrics.pings_rate_limited.inc()
            text = (f"too many pings: this check takes at most {settings.VIGIL_PING_RATE} a second "
                    "(VIGIL_PING_RATE); this one was not recorded, retry in a second\n")
            return 429, text.encode(), [(b"retry-after", b"1")]
        signal = "exit" if exit_code is not None else (variant or "success")
        received = services.Ping(monitor_id, signal, exit_code, body.decode("utf-8", errors="replace"), now)
        if not pings.enqueue(received):
            await sync_to_async(services.record_pings)(pings=[received], now=received.at)
        return 200, b"OK\n", []

    def _allowed_host(self, host: bytes) -> bool:
        known = self.hosts.get(host)
        if known is None:
            domain, _port = split_domain_port(host.decode("latin-1"))
            known = bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
            if len(self.hosts) < 1024:
                self.hosts[host] = known
        return known


async def _read_body(receive: Receive) -> bytes:
    """The first PING_BODY_LIMIT bytes of the body; the rest is read and dropped (the body guard
    around this layer caps the total)."""
    kept = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return kept
        if len(kept) < PING_BODY_LIMIT:
            kept += message.get("body", b"")[: PING_BODY_LIMIT - len(kept)]
        if not message.get("more_body"):
            return kept
