"""Heartbeat pings at volume: accept fast, apply in batches.

A ping request only checks its token (a short in-process cache in front of the
database) and appends the ping to a Redis Stream; `drain` applies up to a few
thousand pings in one transaction (monitors.services.record_pings). The stream's
consumer group makes this reliable: a worker that dies after reading but before
acknowledging leaves its pings pending, and the next drain claims them after a minute.
Re-applying is harmless (results are keyed by monitor and time). When Redis cannot
take the ping, the view applies it directly instead, so none is lost.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime
from uuid import UUID

import redis
from django.conf import settings

from core.redis_client import get_redis
from monitors import services
from monitors.models import Monitor

log = logging.getLogger("vigil.pings")
STREAM = "vigil:pings"
GROUP = "appliers"
STREAM_MAX = 1_000_000  # approximate cap: a week-long worker outage must not fill Redis
CLAIM_IDLE_MS = 60_000
TOKEN_CACHE_SECONDS = 30
# A counter per check and second: a looping job (or someone who found the URL) cannot flood
# the stream and the database with pings.
RATE_KEY_PREFIX = "vigil:ping-rate:"

_tokens: dict[UUID, tuple[float, int | None, bool]] = {}
_tokens_lock = threading.Lock()


NOT_CACHED = object()


def cached_lookup(token: UUID) -> tuple[int, bool] | object | None:
    """lookup() from the in-process cache only: NOT_CACHED when it would need the database
    (the ASGI ping layer then asks lookup() from a thread)."""
    cached = _tokens.get(token)
    if cached is None or cached[0] <= time.monotonic():
        return NOT_CACHED
    return None if cached[1] is None else (cached[1], cached[2])


def lookup(token: UUID) -> tuple[int, bool] | None:
    """(monitor id, paused) of the heartbeat monitor with this ping token, or None."""
    now = time.monotonic()
    with _tokens_lock:
        cached = _tokens.get(token)
    if cached is not None and cached[0] > now:
        return None if cached[1] is None else (cached[1], cached[2])
    row = Monitor.objects.filter(ping_token=token, kind=Monitor.Kind.HEARTBEAT).values_list("pk", "paused").first()
    with _tokens_lock:
        if len(_tokens) > 50_000:
            _tokens.clear()
        _tokens[token] = (now + TOKEN_CACHE_SECONDS, row[0] if row else None, bool(row[1]) if row else False)
    return (row[0], bool(row[1])) if row else None


def forget_token(token: UUID) -> None:
    with _tokens_lock:
        _tokens.pop(token, None)


def over_rate(monitor_id: int, at: datetime) -> bool:
    """True when this check has had VIGIL_PING_RATE pings in the current second already.

    One round trip (INCR and EXPIRE in a pipeline) on the ping path. When Redis cannot
    count, the ping is let through: it is applied directly then, and losing a ping is worse
    than a burst the limit would have cut."""
    key = f"{RATE_KEY_PREFIX}{monitor_id}:{int(at.timestamp())}"
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 2)
        count = int(pipe.execute()[0])
    except (redis.RedisError, OSError):
        return False
    return count > settings.VIGIL_PING_RATE


def enqueue(ping: services.Ping) -> bool:
    """Append to the stream; False when Redis cannot take it (the caller applies it directly)."""
    fields = {"m": str(ping.monitor_id), "s": ping.signal, "e": "" if ping.exit_code is None else str(ping.exit_code),
              "b": ping.body[:1000], "t": repr(ping.at.timestamp())}
    try:
        get_redis().xadd(STREAM, fields, maxlen=STREAM_MAX, approximate=True)  # type: ignore[arg-type]
        return True
    except (redis.RedisError, OSError) as exc:
        log.warning("ping for monitor %s not buffered (%s); applying it directly", ping.monitor_id, exc)
        return False


# The ping layer's batched append (monitors.ping_asgi.PingBatcher): for each ping, its rate
# counter and, when under the rate, its stream entry, in one script run for the whole batch.
# KEYS: the stream, then one rate key per ping; ARGV: the rate, the stream cap, then five
# fields per ping. Returns 1 (buffered) or 0 (over the rate, not buffered) per ping.
APPEND_SCRIPT = """
local rate = tonumber(ARGV[1])
local answers = {}
for i = 2, #KEYS do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], 2) end
  if count > rate then
    answers[i - 1] = 0
  else
    local f = 3 + (i - 2) * 5
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'm', ARGV[f], 's', ARGV[f + 1], 'e', ARGV[f + 2], 'b', ARGV[f + 3], 't', ARGV[f + 4])
    answers[i - 1] = 1
  end
end
return answers
"""


def append_arguments(batch: list[services.Ping], rate: int) -> tuple[list[str], list[str]]:
    """KEYS and ARGV of APPEND_SCRIPT for these pings."""
    keys = [STREAM]
    arguments = [str(rate), str(STREAM_MAX)]
    for ping in batch:
        keys.append(f"{RATE_KEY_PREFIX}{ping.monitor_id}:{int(ping.at.timestamp())}")
        arguments += [str(ping.monitor_id), ping.signal, "" if ping.exit_code is None else str(ping.exit_code), ping.body[:1000],
                      repr(ping.at.timestamp())]
    return keys, arguments


def _ensure_group(client: redis.Redis) -> None:
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _parse(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> tuple[list[bytes], list[services.Ping]]:
    ids, found = [], []
    for entry_id, fields in entries:
        ids.append(entry_id)
        try:
            exit_code = fields.get(b"e", b"").decode()
            found.append(services.Ping(
                monitor_id=int(fields[b"m"]), signal=fields[b"s"].decode(), exit_code=int(exit_code) if exit_code else None,
                body=fields.get(b"b", b"").decode(errors="replace"), at=datetime.fromtimestamp(float(fields[b"t"]), tz=UTC),
            ))
        except (KeyError, ValueError) as exc:
            log.error("dropping malformed ping entry %s: %s", entry_id, exc)
    return ids, found


def drain(*, now: datetime, consumer: str | None = None, batch: int = 2000, rounds: int = 10, claim_idle_ms: int = CLAIM_IDLE_MS) -> int:
    """Apply buffered pings; returns how many were applied."""
    client = get_redis()
    _ensure_group(client)
    name = consumer or f"{socket.gethostname()}-{os.getpid()}"
    applied = 0
    stale = client.xautoclaim(STREAM, GROUP, name, min_idle_time=claim_idle_ms, start_id="0-0", count=batch)
    pending = stale[1] if stale else []
    for _ in range(rounds):
        if not pending:
            answer = client.xreadgroup(GROUP, name, {STREAM: ">"}, count=batch)
            pending = answer[0][1] if answer else []
        if not pending:
            break
        ids, found = _parse(pending)
        services.record_pings(pings=found, now=now)
        client.xack(STREAM, GROUP, *ids)
        client.xdel(STREAM, *ids)
        applied += len(found)
        pending = []
    return applied
