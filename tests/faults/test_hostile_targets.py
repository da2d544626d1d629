"""Fault 5: targets that hang, drip bytes, send 50 MB or reset the connection. Each is
bounded by its timeout and its body limit, so a batch with them finishes about one timeout
after a batch without them, healthy monitors are still checked, and memory stays flat."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import psutil
import pytest
from django.utils import timezone

from monitors.models import CheckResult, Monitor
from monitors.tasks import check_batch
from tests.servers import HTTPServer, RawServer, hang, huge_body, reset, respond, slowloris

pytestmark = pytest.mark.django_db
TIMEOUT = 2.0


def batch(monitors: list[Monitor], slot) -> float:
    started = time.monotonic()
    check_batch([[m.pk, slot.isoformat()] for m in monitors], "default")
    return time.monotonic() - started


def test_hostile_targets_cost_one_timeout_not_a_stalled_worker():
    healthy_server = HTTPServer({"/ok": lambda handler: respond(handler, 200, b"healthy")})
    hostile = {name: RawServer(behaviour) for name, behaviour in
               (("hang", hang), ("drip", slowloris), ("huge", huge_body), ("reset", reset))}
    try:
        healthy = [Monitor.objects.create(name=f"ok-{i}", kind="http", target=f"{healthy_server.url}/ok", timeout_seconds=TIMEOUT,
                                          settings={"keyword": "healthy"}) for i in range(40)]
        bad = [Monitor.objects.create(name=f"bad-{name}", kind="http", target=f"http://127.0.0.1:{server.port}/",
                                      timeout_seconds=TIMEOUT, settings={"keyword": "never"}) for name, server in hostile.items()]
        start = timezone.now()
        baseline = batch(healthy, start)
        process = psutil.Process(os.getpid())
        rss_before = process.memory_info().rss
        rounds = [batch(healthy + bad, start + timedelta(seconds=60 * (n + 1))) for n in range(3)]
        rss_growth = process.memory_info().rss - rss_before
    finally:
        healthy_server.close()
        for server in hostile.values():
            server.close()

    # Every round ends about one timeout later than the healthy-only batch, never hostile x timeout.
    assert max(rounds) <= baseline + TIMEOUT + 2.5, (baseline, rounds)
    ok = CheckResult.objects.filter(monitor_id__in=[m.pk for m in healthy])
    assert ok.count() == 40 * 4 and not ok.exclude(outcome=CheckResult.Outcome.OK).exists()
    outcomes = CheckResult.objects.filter(monitor_id__in=[m.pk for m in bad])
    assert outcomes.count() == 4 * 3 and not outcomes.filter(outcome=CheckResult.Outcome.OK).exists()
    messages = {m.name: m.last_message for m in Monitor.objects.filter(pk__in=[m.pk for m in bad])}
    assert all(messages.values()), messages  # each says what went wrong
    assert rss_growth < 40 * 1024 * 1024, rss_growth  # the 50 MB body was never held in memory
