"""PostgreSQL: connect and run a trivial query within the timeout.

target: postgres://user@host:5432/db (a password may be given as settings.password,
e.g. "env:PGPASSWORD_API"). settings: query (default "SELECT 1").
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import psycopg

from core.secrets import resolve
from monitors.checkers.base import CheckSession, Deadline, Result, down, ok

if TYPE_CHECKING:
    from monitors.models import Monitor


def validate(target: str, settings: dict[str, Any]) -> dict[str, str]:
    parsed = urlparse(target)
    if parsed.scheme not in ("postgres", "postgresql") or not parsed.hostname:
        return {"target": f"{target.split('@')[-1]!r} is not a postgres://host:port/database URL"}
    return {}


def check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    settings = monitor.settings or {}
    deadline = Deadline(monitor.timeout_seconds)
    options: dict[str, Any] = {"connect_timeout": max(1, math.ceil(monitor.timeout_seconds)), "application_name": "vigil-check"}
    if settings.get("password"):
        options["password"] = resolve(settings["password"], what=f"monitor {monitor.name!r}: settings.password")
    query = str(settings.get("query", "SELECT 1"))
    host = urlparse(monitor.target).hostname
    try:
        with psycopg.connect(monitor.target, **options) as connection:
            timeout_ms = max(1, int(deadline.remaining() * 1000))
            connection.execute(f"SET statement_timeout = {timeout_ms}")
            connection.execute(query).fetchone()  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return down(f"postgres {host}: {first}", latency_ms=deadline.elapsed_ms())
    except psycopg.Error as exc:
        return down(f"postgres {host}: query failed: {str(exc).strip().splitlines()[0]}", latency_ms=deadline.elapsed_ms())
    return ok(f"postgres {host} answered", latency_ms=deadline.elapsed_ms())
