"""Heartbeat pings answered before Django's handler: /ping/<token>[/start|/fail|/<exit code>].

A ping is a token lookup (an in-process cache, monitors.pings), then a rate count and an
append to the Redis stream that `drain` applies in batches; Django's ASGI handler and
middleware chain would cost many times that. Same answers as monitors.views.ping; a request
this layer does not take (another method, a malformed path, a host not allowed) goes to Django.

Nothing here blocks the event loop. The pings that arrive while one append is in flight are
appended together by the next (PingBatcher: one script run in Redis per batch, rate counters
and stream entries both; group commit, so the batch grows with the load and a lone ping waits
for no timer).

Durability rule: a ping is answered 200 only once it is stored somewhere a drain will find it:
Redis has run the append (the entry is in the stream) or, when Redis fails or does not answer
within VIGIL_REDIS_TIMEOUT, the database has committed it directly (services.record_pings). If
both fail the answer is 503 with Retry-After, and the ping was not recorded. After a Redis
failure the next pings go straight to the database for REDIS_PAUSE seconds, so a hung Redis
costs each ping at most one timeout, never a queue behind it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

import redis.asyncio as aioredis
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
log = logging.getLogger("vigil.pings")
MAX_BATCH = 1000
REDIS_PAUSE = 5.0  # seconds pings skip Redis after it failed
# Ping times are made unique per check across the server's processes: each process takes one
# residue of the microsecond modulo TIME_SLOTS, and its times only go forward. Two pings of one
# check with the same time would be one result (results are keyed by monitor, time, region).
TIME_SLOTS = 16
WRITERS_KEY = "vigil:ping-writers"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNAVAILABLE = (b"ping not recorded: the ping buffer and the database are both unavailable; retry in a few seconds\n")

PING_PATH = re.compile(r"^/ping/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:/(start|fail|[0-9]+))?$")


class BufferUnavailable(Exception):
    """Neither Redis nor the database took these pings: they were not recorded."""


class PingBatcher:
    """The pings of one event loop, appended to Redis together (see the module's durability rule)."""

    def __init__(self, url: str, timeout: float) -> None:
        self.client = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.script = self.client.register_script(pings.APPEND_SCRIPT)
        self.timeout = timeout
        self.pending: list[tuple[services.Ping, asyncio.Future[int]]] = []
        self.flushing = False
        self.skip_redis_until = 0.0
        self.residue: int | None = None
        self.last_us = 0

    async def submit(self, ping: services.Ping) -> int:
        """1 when the ping is stored (buffered or applied), 0 when it is over the rate and not
        recorded; raises BufferUnavailable when it could not be stored."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.pending.append((ping, future))
        if not self.flushing:
            self.flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # requests already started in this turn of the loop join the batch
            while self.pending:
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                try:
                    answers = await self._store([ping for ping, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every waiting request must get an answer
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(BufferUnavailable(str(exc)))
                    continue
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(int(answer))
        finally:
            self.flushing = False

    async def _unique_times(self, batch: list[services.Ping]) -> list[services.Ping]:
        """The batch with times unique to this process (see TIME_SLOTS), each within 16 µs of
        its arrival unless the one before it was later."""
        if self.residue is None:
            try:
                self.residue = int(await asyncio.wait_for(self.client.incr(WRITERS_KEY), self.timeout)) % TIME_SLOTS
            except (aioredis.RedisError, OSError, TimeoutError):
                self.residue = os.getpid() % TIME_SLOTS
        unique = []
        for ping in batch:
            at_us = (ping.at - EPOCH) // timedelta(microseconds=1)
            at_us += self.residue - at_us % TIME_SLOTS
            if at_us <= self.last_us:
                at_us = self.last_us + TIME_SLOTS
            self.last_us = at_us
            unique.append(replace(ping, at=EPOCH + timedelta(microseconds=at_us)))
        return unique

    async def _store(self, batch: list[services.Ping]) -> list[int]:
        batch = await self._unique_times(batch)
        if time.monotonic() >= self.skip_redis_until:
            keys, arguments = pings.append_arguments(batch, settings.VIGIL_PING_RATE)
            try:
                return list(await asyncio.wait_for(self.script(keys=keys, args=arguments), self.timeout))
            except (aioredis.RedisError, OSError, TimeoutError) as exc:
                self.skip_redis_until = time.monotonic() + REDIS_PAUSE
                log.warning("%d pings not buffered (Redis: %s); applying them directly, and the next ones for %gs",
                            len(batch), type(exc).__name__ if isinstance(exc, TimeoutError) else exc, REDIS_PAUSE)
        # Redis cannot take them: the database, in one transaction (not rate-counted, as before:
        # losing a ping is worse than a burst the limit would have cut).
        await sync_to_async(services.record_pings, thread_sensitive=False)(pings=batch, now=timezone.now())
        return [1] * len(batch)


class PingASGI:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.hosts: dict[bytes, bool] = {}
        self.batchers: dict[asyncio.AbstractEventLoop, PingBatcher] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "POST", "HEAD"):
            return await self.app(scope, receive, send)
        match = PING_PATH.match(scope["path"])
        if match is None or not self._allowed_host(_host(scope["headers"])):
            return await self.app(scope, receive, send)
        token, variant = UUID(match.group(1)), match.group(2)
        body = await _read_body(receive) if scope["method"] == "POST" else b""
        status, text, extra = await self._ping(token, variant, body)
        headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode()),
                   (b"x-content-type-options", b"nosniff"), *extra]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else text})

    def batcher(self) -> PingBatcher:
        loop = asyncio.get_running_loop()
        found = self.batchers.get(loop)
        if found is None:
            found = self.batchers[loop] = PingBatcher(settings.REDIS_URL, settings.VIGIL_REDIS_TIMEOUT)
        return found

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
        signal = "exit" if exit_code is not None else (variant or "success")
        received = services.Ping(monitor_id, signal, exit_code, body.decode("utf-8", errors="replace"), timezone.now())
        try:
            stored = await self.batcher().submit(received)
        except BufferUnavailable as exc:
            log.error("ping for monitor %s not recorded: %s", monitor_id, exc)
            return 503, UNAVAILABLE, [(b"retry-after", b"5")]
        if not stored:
            metrics.pings_rate_limited.inc()
            text = (f"too many pings: this check takes at most {settings.VIGIL_PING_RATE} a second "
                    "(VIGIL_PING_RATE); this one was not recorded, retry in a second\n")
            return 429, text.encode(), [(b"retry-after", b"1")]
        return 200, b"OK\n", []

    def _allowed_host(self, host: bytes) -> bool:
        known = self.hosts.get(host)
        if known is None:
            domain, _port = split_domain_port(host.decode("latin-1"))
            known = bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
            if len(self.hosts) < 1024:
                self.hosts[host] = known
        return known


def _host(headers: list[tuple[bytes, bytes]]) -> bytes:
    for name, value in headers:
        if name == b"host":
            return value
    return b""


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
