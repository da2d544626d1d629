"""Heartbeat monitors: /ping/<uuid> and its variants, late pings, run duration."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from monitors import pings, services
from monitors.checkers import heartbeat
from monitors.checkers.base import CheckSession
from monitors.models import CheckResult, Monitor, StateChange

pytestmark = pytest.mark.django_db


def drain() -> int:
    """Apply the pings the view buffered in Redis, as the drain task does every second."""
    return pings.drain(now=timezone.now(), consumer="test")


@pytest.fixture
def job() -> Monitor:
    monitor = Monitor(name="nightly-backup", kind="heartbeat", retries=0, recovery_confirmations=1,
                      heartbeat_period_seconds=3600, heartbeat_grace_seconds=300, interval_seconds=60, timeout_seconds=5)
    return services.monitor_upsert(monitor=monitor, now=timezone.now())


def test_a_ping_records_an_ok_result_and_sets_the_deadline(client, job):
    response = client.get(f"/ping/{job.ping_token}")
    assert response.status_code == 200 and response.content == b"OK\n"
    assert drain() == 1
    job.refresh_from_db()
    assert job.state == "up" and job.last_ping_at is not None
    assert job.next_due_at == job.last_ping_at + timedelta(seconds=3900)
    assert CheckResult.objects.filter(monitor=job, outcome=0).count() == 1


def test_start_then_success_measures_the_run(client, job):
    with time_machine.travel("2026-11-05 02:00:00Z", tick=False):
        assert client.post(f"/ping/{job.ping_token}/start").status_code == 200
    with time_machine.travel("2026-11-05 02:07:30Z", tick=False):
        assert client.post(f"/ping/{job.ping_token}", data="backup done", content_type="text/plain").status_code == 200
        drain()
    job.refresh_from_db()
    assert job.last_run_seconds == 450
    assert CheckResult.objects.get(monitor=job).latency_ms == 450_000


def test_fail_and_nonzero_exit_codes_make_it_down_with_the_output(client, job):
    client.get(f"/ping/{job.ping_token}")
    client.post(f"/ping/{job.ping_token}/3", data="disk full", content_type="text/plain")
    drain()
    job.refresh_from_db()
    assert job.state == "down"
    assert "exit code 3" in job.last_message and "disk full" in job.last_message
    client.get(f"/ping/{job.ping_token}/0")
    drain()
    job.refresh_from_db()
    assert job.state == "up"
    client.get(f"/ping/{job.ping_token}/fail")
    drain()
    job.refresh_from_db()
    assert job.state == "down" and "reported failure" in job.last_message


def test_a_late_heartbeat_is_down_with_how_late(job):
    services.record_ping(monitor=job, signal="success", exit_code=None, body="", now=timezone.now())
    job.refresh_from_db()
    later = job.last_ping_at + timedelta(seconds=3600 + 301)
    result = heartbeat.check(job, CheckSession(), later)
    assert result.outcome == "down"
    assert "late: last ping 1h5m ago, expected every 1h + 5m grace" in result.message
    assert heartbeat.check(job, CheckSession(), job.last_ping_at + timedelta(seconds=100)).outcome == "ok"


def test_a_late_heartbeat_goes_down_through_the_dispatcher_and_worker(job):
    from monitors.tasks import check_batch

    now = timezone.now()
    services.record_ping(monitor=job, signal="success", exit_code=None, body="", now=now)
    job.refresh_from_db()
    late = job.next_due_at + timedelta(seconds=1)
    from django.db import transaction

    with transaction.atomic():
        claimed = services.claim_due(now=late)
    assert [c[0] for c in claimed] == [job.pk]
    check_batch([[job.pk, claimed[0][1].isoformat()]], "default", now=late)
    job.refresh_from_db()
    assert job.state == "down"
    assert StateChange.objects.filter(monitor=job, new_state="down").exists()


def test_unknown_tokens_bad_exit_codes_and_paused_monitors(client, job):
    assert client.get("/ping/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get(f"/ping/{job.ping_token}/999").status_code == 400
    assert client.get("/ping/not-a-uuid").status_code == 404
    services.monitor_set_paused(monitor_ids=[job.pk], paused=True, now=timezone.now())
    response = client.get(f"/ping/{job.ping_token}")
    assert response.status_code == 200 and b"paused" in response.content


def test_a_huge_ping_body_is_cut(client, job):
    client.post(f"/ping/{job.ping_token}/fail", data="x" * 2_000_000, content_type="text/plain")
    drain()
    job.refresh_from_db()
    assert len(job.last_message) <= 300


def test_a_ping_is_applied_directly_when_redis_is_down(client, job, free_port, settings):
    from core.redis_client import _client

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port}/0"  # nothing listens there
    _client.cache_clear()
    try:
        assert client.get(f"/ping/{job.ping_token}").status_code == 200
    finally:
        _client.cache_clear()
    job.refresh_from_db()
    assert job.state == "up" and job.last_ping_at is not None


def test_pings_left_by_a_dead_consumer_are_claimed_and_applied_once(client, job):
    from core.redis_client import get_redis

    client.get(f"/ping/{job.ping_token}")
    pings._ensure_group(get_redis())
    get_redis().xreadgroup(pings.GROUP, "died-mid-batch", {pings.STREAM: ">"}, count=10)  # read, never acknowledged
    assert drain() == 0  # still pending with the dead consumer, not idle long enough
    assert pings.drain(now=timezone.now(), consumer="test", claim_idle_ms=0) == 1  # claimed from it and applied
    assert drain() == 0
    job.refresh_from_db()
    assert job.state == "up"
    assert CheckResult.objects.filter(monitor=job).count() == 1
    assert get_redis().xlen(pings.STREAM) == 0


def rate_limited_so_far(client) -> float:
    body = client.get("/metrics").content.decode()
    lines = [line for line in body.splitlines() if line.startswith("vigil_pings_rate_limited_total ")]
    return float(lines[0].split()[1]) if lines else 0.0


def test_pings_above_the_rate_get_429_and_are_counted_and_those_below_are_all_stored(client, job, settings):
    settings.VIGIL_PING_RATE = 3
    other = services.monitor_upsert(monitor=Monitor(name="other-job", kind="heartbeat", heartbeat_period_seconds=3600,
                                                    interval_seconds=60, timeout_seconds=5), now=timezone.now())
    before = rate_limited_so_far(client)
    with time_machine.travel("2026-11-05 02:00:00.100Z", tick=False) as clock:
        answers = []
        for _ in range(5):
            answers.append(client.get(f"/ping/{job.ping_token}"))
            clock.shift(0.1)
        assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
        assert answers[-1]["Retry-After"] == "1" and b"VIGIL_PING_RATE" in answers[-1].content
        assert client.get(f"/ping/{other.ping_token}").status_code == 200  # another check has its own count
        clock.shift(1)  # the next second starts a new count
        assert client.post(f"/ping/{job.ping_token}/fail", data="boom", content_type="text/plain").status_code == 200
        assert drain() == 5
    assert CheckResult.objects.filter(monitor=job).count() == 4
    assert rate_limited_so_far(client) == before + 2


def test_pings_at_the_rate_every_second_are_all_accepted(client, job, settings):
    settings.VIGIL_PING_RATE = 2
    with time_machine.travel("2026-11-05 02:00:00Z", tick=False) as clock:
        for _ in range(6):  # two a second for three seconds
            assert client.get(f"/ping/{job.ping_token}").status_code == 200
            clock.shift(0.5)
        assert drain() == 6
    assert CheckResult.objects.filter(monitor=job).count() == 6
