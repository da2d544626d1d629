"""PostgreSQL: connect, run a query within the timeout and, when thresholds or a preset are set,
judge its single value.

target: postgres://user@host:5432/db (a password may be given as settings.password,
e.g. "env:PGPASSWORD_API").

settings:
  query      the SQL to run (default "SELECT 1"); without thresholds the check is up when it answers
  preset     one of PRESETS below instead of a query: the guides' query and default limits
  warn_above / down_above / warn_below / down_below, scale, unit, label
             as monitors.checkers.thresholds; the value is the first column of the first row
             (a query that returns no row, NULL or a non-number is down and says so); further
             columns are shown after the value, e.g. "pool use 85% > 80% (connections 17, pool_size 20)".
             A preset's limits apply when the monitor sets none of the four limits.
  pool_size          pool_use: the application's pool size; counts the client connections to the
                     target's database (default: every client connection against max_connections)
  application_name   pool_use with pool_size: count only connections with this application_name (empty: all)
  slow_query_ms      slow_queries: a statement is slow when its mean time is above this (1000)
  size_limit_bytes   database_size_ratio: the space allocated to the database (required)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import psycopg

from core.secrets import resolve
from monitors.checkers import thresholds
from monitors.checkers.base import CheckSession, Deadline, Result, down, ok

if TYPE_CHECKING:
    from monitors.models import Monitor


@dataclass(frozen=True)
class Preset:
    """A guide's query with its default limits and display. `empty` is the message when the query
    has no number to give (NULL), and `empty_is_ok` says whether that is fine (no reads yet) or not."""

    query: str
    limits: dict[str, float]
    label: str
    scale: float = 1
    unit: str = ""
    empty: str = "the query returned no number"
    empty_is_ok: bool = False
    source: str = ""


# Client connections only: since PostgreSQL 10 pg_stat_activity also lists background workers,
# which max_connections does not count. The check's own connection is left out.
_POOL_SERVER = """
SELECT count(*)::float8 / current_setting('max_connections')::float8 AS ratio,
       count(*) AS connections, current_setting('max_connections')::int AS max_connections
FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"""
_POOL_DATABASE = """
SELECT count(*)::float8 / %(pool_size)s AS ratio, count(*) AS connections, %(pool_size)s AS pool_size
FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND datname = current_database() AND (%(application_name)s::text IS NULL OR application_name = %(application_name)s::text)"""

PRESETS: dict[str, Preset] = {
    # Guide 001 "Database Alerts": pool above 80% (16 of 20) pages, 95% is exhaustion (guide 000).
    "pool_use": Preset(_POOL_SERVER, {"warn_above": 0.8, "down_above": 0.95}, "pool use", scale=100, unit="%",
                       source="guides 000/001: connection pool > 80% warning, > 95% critical"),
    # Guides 000/003: slow queries from pg_stat_statements; "Slow queries: 0 per hour", warning on any query > 1 s.
    "slow_queries": Preset("""
SELECT count(*) AS slow_statements, round(coalesce(max(mean_exec_time), 0)::numeric, 1) AS slowest_mean_ms
FROM pg_stat_statements WHERE mean_exec_time > %(slow_query_ms)s""", {"warn_above": 0}, "slow statements",
                           source="guides 000/001/003: slow query (mean > 1 s) is a warning"),
    # Guide 000: replication lag > 10 s is critical. On a standby: seconds since the last replayed
    # transaction (0 when everything received is replayed, so an idle primary is not "lag");
    # on a primary: the largest replay_lag of its standbys (PostgreSQL clears it to NULL when a
    # standby has caught up and nothing is written: that is 0), NULL when no standby is connected.
    "replication_lag_seconds": Preset("""
SELECT CASE WHEN pg_is_in_recovery() THEN
         CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
              ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END
       ELSE (SELECT coalesce(extract(epoch FROM max(replay_lag)), 0)::float8 FROM pg_stat_replication HAVING count(*) > 0) END
       AS lag_seconds,
       (SELECT count(*) FROM pg_stat_replication) AS standbys""", {"down_above": 10}, "replication lag", unit="s",
                                      empty="no standby is streaming from this primary (pg_stat_replication has no replay_lag)",
                                      source="guide 000: replication lag > 10 s is critical"),
    # Guide 000's own query: should be > 95%.
    "cache_hit_ratio": Preset("""
SELECT sum(heap_blks_hit)::float8 / nullif(sum(heap_blks_hit) + sum(heap_blks_read), 0) AS cache_hit_ratio,
       sum(heap_blks_hit) AS heap_hit, sum(heap_blks_read) AS heap_read
FROM pg_statio_user_tables""", {"warn_below": 0.95}, "cache hit ratio", scale=100, unit="%",
                              empty="no user table has been read yet", empty_is_ok=True,
                              source="guide 000: cache hit ratio < 95% is a warning"),
    # Guide 000: database size > 90% of allocated is critical.
    "database_size_ratio": Preset("""
SELECT pg_database_size(current_database())::float8 / %(size_limit_bytes)s AS size_ratio,
       pg_size_pretty(pg_database_size(current_database())) AS size""", {"down_above": 0.9}, "database size",
                                  scale=100, unit="%", source="guide 000: database size > 90% of allocated is critical"),
    # Guide 002 ("check for long-running queries", "kill long-running queries"); it gives no number,
    # so the defaults (1 min warning, 5 min critical) are Vigil's.
    "long_transactions": Preset("""
SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0)::float8 AS longest_seconds, count(*) AS open_transactions
FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND datname = current_database()
  AND state <> 'idle'""", {"warn_above": 60, "down_above": 300}, "longest transaction", unit="s",
                                source="guide 002 names long-running queries; the 60 s / 300 s defaults are Vigil's"),
}


def _positive_number(settings: dict[str, Any], name: str) -> str | None:
    value = settings.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
        return f"{name} must be a number above 0, got {value!r}"
    return None


def validate(target: str, settings: dict[str, Any]) -> dict[str, str]:
    parsed = urlparse(target)
    if parsed.scheme not in ("postgres", "postgresql") or not parsed.hostname:
        return {"target": f"{target.split('@')[-1]!r} is not a postgres://host:port/database URL"}
    preset = settings.get("preset")
    if preset is not None:
        if preset not in PRESETS:
            return {"settings": f"preset {preset!r} is unknown; use one of {', '.join(PRESETS)}"}
        if settings.get("query") is not None:
            return {"settings": "set a query or a preset, not both (a preset brings its own query)"}
    for name in ("pool_size", "slow_query_ms", "size_limit_bytes"):
        problem = _positive_number(settings, name)
        if problem:
            return {"settings": problem}
    if preset == "database_size_ratio" and settings.get("size_limit_bytes") is None:
        return {"settings": "preset database_size_ratio needs size_limit_bytes: the space allocated to the database, "
                            "e.g. 10737418240 for 10 GiB"}
    if settings.get("application_name") and settings.get("pool_size") is None:
        return {"settings": "application_name counts one application's connections against its pool: set pool_size too"}
    if settings.get("query") is not None and not str(settings["query"]).strip():
        return {"settings": "query is empty; write the SQL to run, e.g. SELECT count(*) FROM pg_stat_activity"}
    problem = thresholds.validate(settings, required=False)
    if problem:
        return {"settings": problem}
    return {}


def measuring(settings: dict[str, Any]) -> bool:
    """Whether the check judges a value (a preset or thresholds) rather than only answering."""
    return settings.get("preset") is not None or any(settings.get(name) is not None for name in thresholds.LIMITS)


def effective_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The monitor's settings with its preset's limits and display filled in (its own limits win as a set)."""
    preset = PRESETS.get(str(settings.get("preset")))
    if preset is None:
        return dict(settings)
    merged: dict[str, Any] = {"label": preset.label, "scale": preset.scale, "unit": preset.unit}
    if not any(settings.get(name) is not None for name in thresholds.LIMITS):
        merged.update(preset.limits)
    merged.update({key: value for key, value in settings.items() if value is not None})
    return merged


def _statement(settings: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    preset_name = settings.get("preset")
    if preset_name is None:
        # A query of the team's own runs as written (no parameters, so a % in it is a %).
        return str(settings.get("query", "SELECT 1")), None
    if preset_name == "pool_use" and settings.get("pool_size") is not None:
        return _POOL_DATABASE, {"pool_size": settings["pool_size"], "application_name": settings.get("application_name") or None}
    parameters = {"slow_query_ms": float(settings.get("slow_query_ms", 1000)),
                  "size_limit_bytes": float(settings.get("size_limit_bytes") or 1)}
    return PRESETS[preset_name].query, parameters


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _plain(cell: Any) -> Any:
    """A further column as JSON can keep it (details are stored with the result)."""
    if isinstance(cell, Decimal):
        return float(cell)
    return cell if cell is None or isinstance(cell, (bool, int, float, str)) else str(cell)


def _has_pg_stat_statements(connection: psycopg.Connection[Any]) -> bool:
    return connection.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'").fetchone() is not None


def check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    settings = monitor.settings or {}
    deadline = Deadline(monitor.timeout_seconds)
    options: dict[str, Any] = {"connect_timeout": max(1, math.ceil(monitor.timeout_seconds)), "application_name": "vigil-check"}
    if settings.get("password"):
        options["password"] = resolve(settings["password"], what=f"monitor {monitor.name!r}: settings.password")
    statement, parameters = _statement(settings)
    host = urlparse(monitor.target).hostname
    database = urlparse(monitor.target).path.lstrip("/") or "(default database)"
    connected = False
    try:
        with psycopg.connect(monitor.target, **options) as connection:
            connected = True
            timeout_ms = max(1, int(deadline.remaining() * 1000))
            connection.execute(f"SET statement_timeout = {timeout_ms}")
            if settings.get("preset") == "slow_queries" and not _has_pg_stat_statements(connection):
                return down(f"postgres {host}: pg_stat_statements is not installed in {database}; run CREATE EXTENSION "
                            "pg_stat_statements there (it also needs shared_preload_libraries = 'pg_stat_statements')",
                            latency_ms=deadline.elapsed_ms())
            cursor = connection.execute(statement, parameters)  # type: ignore[arg-type]
            row = cursor.fetchone()
            columns = [column.name for column in cursor.description or []]
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "shared_preload_libraries" in first:
            first += " (add it to shared_preload_libraries in postgresql.conf and restart PostgreSQL)"
        return down(f"postgres {host}: {'query failed: ' if connected else ''}{first}", latency_ms=deadline.elapsed_ms())
    if not measuring(settings):
        return ok(f"postgres {host} answered", latency_ms=deadline.elapsed_ms())
    return _judge_row(settings, row, columns, host, deadline.elapsed_ms())


def _judge_row(settings: dict[str, Any], row: tuple[Any, ...] | None, columns: list[str], host: str | None, latency_ms: int) -> Result:
    preset = PRESETS.get(str(settings.get("preset")))
    what = f"preset {settings['preset']}" if preset else "the query"
    if row is None or not row:
        return down(f"postgres {host}: {what} returned no row; the first column of the first row is the value judged",
                    latency_ms=latency_ms)
    value = _number(row[0])
    context = {name: _plain(cell) for name, cell in zip(columns[1:], row[1:], strict=False)}
    if value is None and row[0] is None and preset is not None:
        if preset.empty_is_ok:
            return ok(f"{preset.label}: {preset.empty}", latency_ms=latency_ms, details={"row": context})
        return down(f"postgres {host}: {preset.empty}", latency_ms=latency_ms, details={"row": context})
    if value is None:
        shown = "NULL" if row[0] is None else repr(row[0])[:60]
        return down(f"postgres {host}: {what} returned {shown} in its first column ({columns[0] if columns else '?'}), "
                    "not a number", latency_ms=latency_ms)
    result = thresholds.judged(value, effective_settings(settings), latency_ms=latency_ms, details={"row": context} if context else {})
    if context:
        result.message = (result.message + " (" + ", ".join(f"{name} {cell}" for name, cell in context.items()) + ")")[:200]
    return result
