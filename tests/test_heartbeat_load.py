"""Heartbeat pings under concurrent load on the `make run` server: every accepted ping is stored,
however the pings of one check interleave across server processes and drain batches."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import close_old_connections
from django.utils import timezone

from monitors import pings, services
from monitors.models import CheckResult, Monitor
from tests.processes import start_procfile_web

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = 12
PINGS_EACH = 40
CLIENTS = 16


def _jobs() -> list[Monitor]:
    return [services.monitor_upsert(monitor=Monitor(name=f"job-{n}", kind="heartbeat", retries=0, recovery_confirmations=1,
                                                    heartbeat_period_seconds=3600, heartbeat_grace_seconds=300,
                                                    interval_seconds=60, timeout_seconds=5), now=timezone.now())
            for n in range(CHECKS)]


def test_every_ping_is_stored_under_concurrent_load(tmp_path):
    jobs = _jobs()
    web, url = start_procfile_web(tmp_path, VIGIL_PING_RATE="100000")
    addresses = [f"{url}/ping/{job.ping_token}" for job in jobs for _ in range(PINGS_EACH)]
    sessions = threading.local()

    def send(address: str) -> int:
        if not hasattr(sessions, "client"):
            sessions.client = requests.Session()
        answer = sessions.client.post(address, data=b"ok", timeout=30)
        assert "X-Request-ID" not in answer.headers  # answered before Django's handler (monitors/ping_asgi.py)
        return answer.status_code

    done = threading.Event()
    drained: list[int] = []

    def drain_while_sending() -> None:
        # As the drain task does every second, but as often as it can: batches interleave with the pings.
        try:
            while not done.is_set():
                drained.append(pings.drain(now=timezone.now(), consumer="load-test", batch=50))
        finally:
            close_old_connections()

    drainer = threading.Thread(target=drain_while_sending)
    drainer.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = list(pool.map(send, addresses))
    finally:
        done.set()
        drainer.join()
        web.stop()
    assert statuses == [200] * len(addresses)
    drained.append(pings.drain(now=timezone.now(), consumer="load-test"))
    assert sum(drained) == len(addresses)
    stored = {job.pk: CheckResult.objects.filter(monitor_id=job.pk).count() for job in jobs}
    assert stored == {job.pk: PINGS_EACH for job in jobs}


def test_the_fast_ping_layer_answers_as_the_django_view_does(tmp_path, client):
    job, paused = _jobs()[:2]
    Monitor.objects.filter(pk=paused.pk).update(paused=True)
    web, url = start_procfile_web(tmp_path, VIGIL_PING_RATE="2")
    cases = [("GET", f"/ping/{job.ping_token}/start"), ("POST", f"/ping/{job.ping_token}/3"), ("GET", f"/ping/{job.ping_token}/256"),
             ("GET", "/ping/00000000-0000-0000-0000-000000000000"), ("GET", f"/ping/{paused.ping_token}"),
             ("PUT", f"/ping/{job.ping_token}")] + [("GET", f"/ping/{job.ping_token}/fail")] * 4
    try:
        served = [requests.request(method, url + path, data=b"x" * 20_000, timeout=10) for method, path in cases]
    finally:
        web.stop()
    assert [(r.status_code, r.text) for r in served[:5]] == [
        (200, "OK\n"), (200, "OK\n"), (400, "exit code must be 0-255\n"),
        (404, "not found: no heartbeat monitor has this ping URL\n"), (200, "OK (monitor paused; ping ignored)\n")]
    assert served[5].status_code == 405  # not a ping method: Django's answer
    burst = served[6:]  # at most 2 a second: some of these are refused
    limited = [r for r in burst if r.status_code == 429]
    assert limited and all(r.headers["Retry-After"] == "1" for r in limited)
    accepted = 2 + len(burst) - len(limited)
    assert pings.drain(now=timezone.now(), consumer="parity") == accepted
    first = CheckResult.objects.filter(monitor_id=job.pk).order_by("at").first()
    assert first is not None and first.outcome != 0 and first.message.startswith("job exit code 3: " + "x" * 100)


def test_pings_of_one_check_in_the_same_microsecond_are_all_stored():
    job = _jobs()[0]
    at = timezone.now()
    received = [services.Ping(job.pk, "success", None, "", at) for _ in range(3)]
    assert services.record_pings(pings=received, now=at) == 3
    assert CheckResult.objects.filter(monitor_id=job.pk).count() == 3
