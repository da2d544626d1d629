"""Prometheus metrics for the portal itself.

Counters and histograms are shared by every web and worker process through
prometheus-client's multiprocess files (PROMETHEUS_MULTIPROC_DIR, see settings).
Gauges that describe the whole system (queue depth, beat lag, workers) are read
when /metrics is scraped, by SystemCollector.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

http_requests = Counter(
    "vigil_http_requests_total", "HTTP requests answered, by view, method and status", ["view", "method", "status"]
)
http_request_duration = Histogram(
    "vigil_http_request_duration_seconds",
    "Time to answer an HTTP request, by view",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
check_results = Counter("vigil_check_results_total", "Checks run, by kind and outcome", ["kind", "outcome"])
engine_seconds = Counter(
    "vigil_engine_seconds_total",
    "Where the engine's time goes, by phase (dispatch, io, result_write, reactions) and clock (cpu: the process's CPU time; wall)",
    ["phase", "clock"],
)


class engine_phase:
    """Counts a block's CPU time (the whole process's: a check batch's I/O runs in other threads) and
    wall time under vigil_engine_seconds_total{phase}."""

    def __init__(self, phase: str) -> None:
        self.phase = phase

    def __enter__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.monotonic()

    def __exit__(self, *_: object) -> None:
        count_engine_seconds(self.phase, cpu=time.process_time() - self.cpu, wall=time.monotonic() - self.wall)


def count_engine_seconds(phase: str, *, cpu: float, wall: float) -> None:
    """Add to vigil_engine_seconds_total{phase}: for phases that overlap in one process (a batch's I/O
    goes on while its first results are written), measured by the caller."""
    engine_seconds.labels(phase, "cpu").inc(cpu)
    engine_seconds.labels(phase, "wall").inc(wall)
notification_deliveries = Counter(
    "vigil_notification_deliveries_total", "Notification delivery attempts, by channel kind and outcome", ["kind", "outcome"]
)
login_failures = Counter("vigil_login_failures_total", "Failed login attempts")
confirmations_refused = Counter(
    "vigil_subscription_confirmations_refused_total",
    "Subscription confirmation mails not sent, by the limit that refused them (address, page, global, unavailable)",
    ["reason"],
)


def count_delivery(kind: str, outcome: str) -> None:
    """One delivery attempt of an alert notification or a status page notification."""
    notification_deliveries.labels(kind=kind, outcome=outcome).inc()
login_lockouts = Counter("vigil_login_lockouts_total", "Logins refused because of too many failures")
pings_rate_limited = Counter("vigil_pings_rate_limited_total", "Heartbeat pings refused (429) above VIGIL_PING_RATE per check")


# Gauges read at scrape time that apps above core add from their ready() (core cannot import them).
EXTRA_GAUGES: list[Callable[[], Iterator[GaugeMetricFamily]]] = []


def register_gauges(collect: Callable[[], Iterator[GaugeMetricFamily]]) -> None:
    if collect not in EXTRA_GAUGES:
        EXTRA_GAUGES.append(collect)


class SystemCollector(Collector):
    """Reads queue depth, beat lag and live workers from Redis at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.conf import settings

        from core.redis_client import BEAT_TICK_KEY, WORKER_KEY_PREFIX, broker_redis_url, get_redis

        up = GaugeMetricFamily("vigil_redis_up", "1 when Redis (broker) answers")
        depth = GaugeMetricFamily("vigil_queue_depth", "Messages waiting in a Celery queue", labels=["queue"])
        beat_age = GaugeMetricFamily("vigil_beat_last_tick_age_seconds", "Seconds since celery beat last ticked")
        workers = GaugeMetricFamily("vigil_workers_alive", "Workers that sent a heartbeat in the last 30 s")
        try:
            broker = get_redis(broker_redis_url())
            queues = sorted({settings.CELERY_TASK_DEFAULT_QUEUE, *(q.decode() for q in broker.smembers("vigil:queues"))})
            for queue in queues:
                depth.add_metric([queue], broker.llen(queue))
            cache = get_redis()
            last_tick = cache.get(BEAT_TICK_KEY)
            if last_tick is not None:
                beat_age.add_metric([], max(0.0, time.time() - float(last_tick)))
            workers.add_metric([], sum(1 for _ in cache.scan_iter(f"{WORKER_KEY_PREFIX}*", count=100)))
            up.add_metric([], 1)
        except Exception:  # noqa: BLE001 - a scrape must answer even when Redis is down
            up.add_metric([], 0)
        yield up
        yield depth
        yield beat_age
        yield workers
        yield from _database_gauges()
        yield from _event_gauges()
        for collect_extra in EXTRA_GAUGES:
            try:
                yield from collect_extra()
            except Exception:  # noqa: BLE001 - one app's gauges never break the scrape
                continue


def _event_gauges() -> Iterator[GaugeMetricFamily]:
    """Per event consumer: events not read yet, and failures by state (quarantined ones need a person)."""
    from core import events

    pending = GaugeMetricFamily("vigil_event_consumer_pending", "Events a consumer has not read yet", labels=["consumer"])
    failures = GaugeMetricFamily("vigil_event_consumer_failures", "Events a consumer failed on, by state", labels=["consumer", "state"])
    try:
        for row in events.status():
            pending.add_metric([row.name], row.pending)
            for state in ("retrying", "waiting", "quarantined"):
                failures.add_metric([row.name, state], getattr(row, state))
    except Exception:  # noqa: BLE001 - the database being down is what /health reports
        return
    yield pending
    yield failures


def _database_gauges() -> Iterator[GaugeMetricFamily]:
    """Connections in use against the limit: exhaustion is how a busy PostgreSQL fails first."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    used = GaugeMetricFamily("vigil_db_connections", "Connections to the database server, by state", labels=["state"])
    limit = GaugeMetricFamily("vigil_db_max_connections", "The server's max_connections")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1")
            for state, count in cursor.fetchall():
                used.add_metric([state], count)
            cursor.execute("SHOW max_connections")
            limit.add_metric([], float(cursor.fetchone()[0]))
    except Exception:  # noqa: BLE001 - the database being down is what /health reports
        return
    yield used
    yield limit


def portal_registry() -> Any:
    """Every process's metrics (multiprocess files) plus the system gauges read now: what /metrics serves."""
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(SystemCollector())
    return registry
