"""The dispatcher claims due monitors once, spreads them over their interval and
enqueues batches per region queue on the real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from core.redis_client import broker_redis_url, get_redis
from monitors import services
from monitors.models import Monitor, Region, next_slot_after

pytestmark = pytest.mark.django_db(transaction=True)
NOW = datetime(2026, 11, 2, 9, 0, 0, tzinfo=UTC)


def make_monitors(count: int, interval: int = 60, **fields) -> list[Monitor]:
    monitors = Monitor.objects.bulk_create(
        [Monitor(name=f"svc-{i}", kind="tcp", target="127.0.0.1:1", interval_seconds=interval, timeout_seconds=5, **fields) for i in range(count)]
    )
    for monitor in monitors:
        services.schedule(monitor, now=NOW)
    Monitor.objects.bulk_update(monitors, ["next_due_at"])
    return monitors


def test_next_slot_is_on_the_grid_and_strictly_after_now():
    slot = next_slot_after(NOW, 60, 17)
    assert slot > NOW and slot - NOW <= timedelta(seconds=60)
    assert (slot.second - 17) % 60 == 0
    assert next_slot_after(slot, 60, 17) == slot + timedelta(seconds=60)


def test_a_thousand_monitors_created_together_spread_over_the_interval():
    monitors = make_monitors(1000)
    per_second = Counter(m.next_due_at for m in monitors)
    assert len(per_second) >= 55  # nearly every second of the minute is used
    assert max(per_second.values()) <= 40  # 1000/60 ~ 17 on average; no thundering herd


def test_due_monitors_are_claimed_once_and_move_to_their_next_slot():
    make_monitors(30)
    later = NOW + timedelta(seconds=61)
    with transaction.atomic():
        first = services.claim_due(now=later)
    with transaction.atomic():
        second = services.claim_due(now=later)
    assert len(first) == 30 and second == []
    for monitor in Monitor.objects.all():
        assert later < monitor.next_due_at <= later + timedelta(seconds=60)


def test_paused_monitors_are_not_claimed():
    make_monitors(3, paused=True)
    with transaction.atomic():
        assert services.claim_due(now=NOW + timedelta(minutes=5)) == []


LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432"


def _local_postgres_refusal() -> str:
    """Why the PostgreSQL on this machine cannot be used (empty when it can)."""
    import psycopg

    try:
        psycopg.connect(f"{LOCAL_POSTGRES}/postgres", connect_timeout=2).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ""


def test_two_dispatchers_at_once_never_claim_the_same_monitor():
    """SKIP LOCKED is PostgreSQL's: on SQLite (a plain `make test`) the same test runs again in a
    child pytest against a throwaway database on the local PostgreSQL, when one answers."""
    if connection.vendor == "postgresql":
        _two_dispatchers_race()
        return
    refusal = _local_postgres_refusal()
    if refusal:
        pytest.skip(f"SKIP LOCKED claim not tested: it needs PostgreSQL; DATABASE_URL is unset and {LOCAL_POSTGRES} "
                    f"refused ({refusal}). Set DATABASE_URL=postgres://... to run it.")
    # pytest-django creates test_<name> for the child and drops it afterwards.
    env = dict(os.environ, DATABASE_URL=f"{LOCAL_POSTGRES}/vigil_claim_{os.getpid()}")
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--create-db",
         f"{__file__}::test_two_dispatchers_at_once_never_claim_the_same_monitor"],
        env=env, capture_output=True, text=True, timeout=300, cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert child.returncode == 0 and "1 passed" in child.stdout, child.stdout[-3000:] + child.stderr[-2000:]


def _two_dispatchers_race() -> None:
    from django.db import connections

    make_monitors(400)
    later = NOW + timedelta(seconds=61)
    claims: list[list[int]] = []
    barrier = threading.Barrier(2)

    def dispatcher() -> None:
        try:
            with transaction.atomic():
                barrier.wait()
                claims.append([row[0] for row in services.claim_due(now=later, limit=300)])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(claims) == 2
    assert not set(claims[0]) & set(claims[1])
    assert len(claims[0]) + len(claims[1]) == 400


def test_batches_go_to_each_region_queue_on_the_broker():
    eu = Region.objects.create(name="eu")
    us = Region.objects.create(name="us")
    size = services.BATCH_SIZE
    multi = make_monitors(2 * size + 20)
    for monitor in multi[:size + 20]:
        monitor.regions.set([eu, us])
    broker = get_redis(broker_redis_url())
    claimed = services.dispatch_due(now=NOW + timedelta(seconds=61))
    assert claimed == 2 * size + 20
    assert broker.llen("checks.eu") == 2 and broker.llen("checks.us") == 2  # size + 20 ids: one full batch and one of 20
    assert broker.llen("checks.default") == 1  # the `size` with no region
    message = json.loads(broker.lindex("checks.eu", 0))
    assert message["headers"]["task"] == "monitors.run_check_batch"


def test_a_broker_failure_rolls_the_claim_back(settings, free_port):
    from portal.celery import app

    make_monitors(5)
    def fresh_pool() -> None:
        # kombu keeps one pool per broker URL; forgetting ours makes the next publish use
        # the pool of the current broker_url (the original one is left open for later tests).
        app._pool = None
        app.amqp._producer_pool = None

    app.conf.broker_url = f"redis://127.0.0.1:{free_port}/0"  # nothing listens there
    app.conf.broker_transport_options = {"max_retries": 0}
    fresh_pool()
    try:
        with pytest.raises(Exception):
            services.dispatch_due(now=NOW + timedelta(seconds=61))
    finally:
        app.conf.broker_url = settings.CELERY_BROKER_URL
        app.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        fresh_pool()
    # Nothing was lost: all five are still due and the next tick takes them.
    assert Monitor.objects.filter(next_due_at__lte=NOW + timedelta(seconds=61)).count() == 5
    assert connection.vendor in ("postgresql", "sqlite")
