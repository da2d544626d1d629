"""Heartbeat pings under concurrent load on the `make run` server: every accepted ping is stored,
however the pings of one check interleave across server processes, append batches
(monitors.ping_asgi.PingBatcher) and drain batches; a hung or down Redis stalls nothing else and
loses no ping that was answered 200."""

from __future__ import annotations

import asyncio
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.db import close_old_connections
from django.test import override_settings
from django.utils import timezone

from core.redis_client import get_redis
from monitors import pings, services
from monitors.models import CheckResult, Monitor
from monitors.ping_asgi import PingBatcher
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


def _script_runs() -> int:
    stats = get_redis().info("commandstats")
    return sum(int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval"))


def test_concurrent_pings_are_appended_in_batches_and_all_stored():
    jobs = _jobs()[:4]
    received = [services.Ping(job.pk, "success", None, f"run {n}", timezone.now()) for n in range(50) for job in jobs]
    before = _script_runs()

    async def send_all() -> list[int]:
        batcher = PingBatcher(settings.REDIS_URL, settings.VIGIL_REDIS_TIMEOUT)
        try:
            return list(await asyncio.gather(*(batcher.submit(ping) for ping in received)))
        finally:
            await batcher.client.aclose()

    with override_settings(VIGIL_PING_RATE=100_000):
        answers = asyncio.run(send_all())
    assert answers == [1] * len(received)
    assert _script_runs() - before < len(received) / 10  # one script run per batch, not per ping
    assert pings.drain(now=timezone.now(), consumer="batches") == len(received)
    assert {job.pk: CheckResult.objects.filter(monitor_id=job.pk).count() for job in jobs} == {job.pk: 50 for job in jobs}


def test_the_rate_limit_holds_within_one_batch():
    job = _jobs()[0]
    at = timezone.now()

    async def send() -> list[int]:
        batcher = PingBatcher(settings.REDIS_URL, settings.VIGIL_REDIS_TIMEOUT)
        try:
            return list(await asyncio.gather(*(batcher.submit(services.Ping(job.pk, "success", None, "", at)) for _ in range(5))))
        finally:
            await batcher.client.aclose()

    with override_settings(VIGIL_PING_RATE=2):
        answers = asyncio.run(send())
    assert sorted(answers) == [0, 0, 0, 1, 1]
    assert pings.drain(now=timezone.now(), consumer="rate") == 2


def test_pings_of_one_check_at_the_same_moment_in_two_server_processes_are_all_stored():
    job = _jobs()[0]
    at = timezone.now()

    async def two_processes() -> list[int]:
        first, second = (PingBatcher(settings.REDIS_URL, settings.VIGIL_REDIS_TIMEOUT) for _ in range(2))
        try:
            # Three rounds: the drains below fall between them, as drain batches do between pings.
            return list(await asyncio.gather(*(batcher.submit(services.Ping(job.pk, "success", None, "", at))
                                               for batcher in (first, second) for _ in range(20))))
        finally:
            await first.client.aclose()
            await second.client.aclose()

    with override_settings(VIGIL_PING_RATE=100_000):
        drained = 0
        for _ in range(3):
            assert asyncio.run(two_processes()) == [1] * 40
            drained += pings.drain(now=timezone.now(), consumer="same-moment")
    assert drained == 120
    assert CheckResult.objects.filter(monitor_id=job.pk).count() == 120


class RedisRelay:
    """A TCP relay to the test's Redis (TCP or the embedded one's socket). hang(): connections stay
    open and what is sent is read but never forwarded, either way; stop(): connecting is refused."""

    def __init__(self) -> None:
        parts = urlsplit(settings.REDIS_URL)
        self.target: tuple[int, object] = ((socket.AF_UNIX, parts.path) if parts.scheme == "unix"
                                           else (socket.AF_INET, (parts.hostname or "127.0.0.1", parts.port or 6379)))
        self.database = "0" if parts.scheme == "unix" else (parts.path.strip("/") or "0")
        self.hung = self.stopped = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.database}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.stopped:
                client.close()
                return
            upstream = socket.socket(self.target[0])
            upstream.connect(self.target[1])
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self.hung:
                    sink.sendall(data)
        except OSError:
            pass

    def hang(self) -> None:
        self.hung = True

    def stop(self) -> None:
        self.stopped = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # close() alone leaves a blocked accept() listening
        except OSError:
            pass
        self.listener.close()
        for end in self.sockets:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()


def _ping_while_redis_fails(tmp_path: Path, fail: str) -> tuple[list[int], int, Monitor]:
    """Pings on the make run server while its Redis hangs or is down: (statuses, stored, the job)."""
    job = _jobs()[0]
    relay = RedisRelay()
    web, url = start_procfile_web(tmp_path, REDIS_URL=relay.url, VIGIL_PING_RATE="100000")
    try:
        assert requests.get(f"{url}/ping/{job.ping_token}", timeout=30).status_code == 200  # warm: the token is cached
        getattr(relay, fail)()
        with ThreadPoolExecutor(8) as pool:
            sent = [pool.submit(requests.post, f"{url}/ping/{job.ping_token}", data=b"x", timeout=60) for _ in range(40)]
            # While those wait on Redis, a request that needs no Redis is answered (the event loop is free).
            unknown = requests.get(f"{url}/ping/00000000-0000-0000-0000-000000000000", timeout=30)
            unknown_done_first = not all(future.done() for future in sent)
            statuses = [future.result().status_code for future in sent]
    finally:
        web.stop()
        relay.stop()
    assert unknown.status_code == 404
    if fail == "hang":
        assert unknown_done_first
    stored = CheckResult.objects.filter(monitor_id=job.pk).count()
    return statuses, stored, job


@pytest.mark.parametrize("fail", ["hang", "stop"])
def test_pings_answered_while_redis_hangs_or_is_down_are_stored(tmp_path, fail):
    statuses, stored, _job = _ping_while_redis_fails(tmp_path, fail)
    assert set(statuses) <= {200, 503} and 200 in statuses
    # The warm-up ping went to the stream (Redis was fine then); every 200 since went to the database.
    drained = pings.drain(now=timezone.now(), consumer="after-outage")
    assert drained == 1
    assert stored + drained == statuses.count(200) + 1
