"""The engine as real processes: celery worker and beat against local targets."""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psutil
import pytest
from django.utils import timezone

from core.redis_client import broker_redis_url, get_redis
from monitors import services
from monitors.models import CheckResult, Monitor
from tests.processes import start_beat, start_worker, stop_all, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Target:
    """A local HTTP service: /ok answers at once, /slow after a delay; counts requests."""

    def __init__(self, delay: float = 1.5) -> None:
        self.requests = 0
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with target.lock:
                    target.requests += 1
                if self.path.startswith("/slow"):
                    time.sleep(delay)
                body = b'{"status": "healthy"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target():
    server = Target()
    yield server
    server.close()


def make_http_monitors(count: int, url: str, interval: int = 300) -> list[Monitor]:
    now = timezone.now()
    monitors = []
    for index in range(count):
        monitor = Monitor(name=f"svc-{index}", kind="http", target=url, interval_seconds=interval, timeout_seconds=4,
                          retries=0, recovery_confirmations=1)
        services.monitor_upsert(monitor=monitor, now=now)
        monitors.append(monitor)
    Monitor.objects.update(next_due_at=now)
    return monitors


def test_beat_and_a_worker_check_monitors_end_to_end(target, tmp_path, client):
    make_http_monitors(5, f"{target.url}/ok")
    worker = start_worker(tmp_path)
    beat = start_beat(tmp_path)
    try:
        wait_until(lambda: Monitor.objects.filter(state="up").count() == 5, 30, "monitors did not come up")
        assert CheckResult.objects.count() >= 5
        wait_until(lambda: client.get("/health").json()["checks"]["beat"]["status"] == "healthy", 10, "beat not seen by /health")
        health = client.get("/health").json()
        assert health["checks"]["workers"]["count"] == 1
    finally:
        beat.stop()
        worker.stop()


def test_killing_the_worker_mid_batch_loses_no_check_and_stores_no_duplicate(target, tmp_path):
    monitors = make_http_monitors(10, f"{target.url}/slow")
    worker = start_worker(tmp_path, concurrency=1)
    try:
        assert services.dispatch_due(now=timezone.now()) == 10
        wait_until(lambda: target.requests >= 1, 20, "the batch never started")
        children = psutil.Process(worker.popen.pid).children(recursive=True)
        pool = [c for c in children if "celery" in " ".join(c.cmdline())]
        assert pool, "no pool process found"
        for child in pool:
            child.kill()  # SIGKILL, mid-batch
        wait_until(lambda: CheckResult.objects.count() >= 10, 60, f"results missing after the kill:\n{worker.output()[-2000:]}")
        time.sleep(1)
        assert "WorkerLostError" in worker.output() or "SIGKILL" in worker.output()
    finally:
        worker.stop()
    per_monitor = Counter(CheckResult.objects.values_list("monitor_id", flat=True))
    assert per_monitor == {m.pk: 1 for m in monitors}
    assert target.requests > 10  # the batch ran again after the kill: nothing was lost


def _queued_slots(queue: str) -> list[tuple[int, str]]:
    broker = get_redis(broker_redis_url())
    slots = []
    for raw in broker.lrange(queue, 0, -1):
        envelope = json.loads(raw)
        body = json.loads(base64.b64decode(envelope["body"]))
        items, _region = body[0]
        slots.extend((int(monitor_id), slot) for monitor_id, slot in items)
    return slots


def test_two_beats_never_dispatch_a_check_twice(tmp_path):
    now = timezone.now()
    for index in range(200):
        monitor = Monitor(name=f"fast-{index}", kind="tcp", target="127.0.0.1:9", interval_seconds=5, timeout_seconds=2, retry_interval_seconds=5)
        services.monitor_upsert(monitor=monitor, now=now)
    first, second = start_beat(tmp_path, "beat-a"), start_beat(tmp_path, "beat-b")
    try:
        # Every monitor comes due every 5 s: wait for two full rounds.
        wait_until(lambda: len(_queued_slots("checks.default")) >= 400, 40, "beats did not dispatch two rounds")
        # Read before stopping: a beat that stops hands the lock over, and the other
        # one then rightly takes it.
        took = [p.name for p in (first, second) if "took the single-beat lock" in p.output()]
        lost = any("lost the single-beat lock" in p.output() for p in (first, second))
        # While a beat runs, no monitor is left behind (read before the beats stop,
        # after which every monitor rightly falls behind).
        overdue = Monitor.objects.filter(next_due_at__lt=timezone.now() - timedelta(seconds=10)).count()
    finally:
        stop_all(first, second)
    slots = _queued_slots("checks.default")
    duplicates = [item for item, count in Counter(slots).items() if count > 1]
    assert duplicates == []
    # One beat dispatches; the other stands by (and takes over only if the first stalls).
    assert len(took) == 1 or lost, took
    assert overdue == 0


def test_a_beat_stopped_and_started_again_runs_every_monitors_due_slot(target, tmp_path):
    """The restarted beat checks each monitor at the slot due when it came back, then every
    slot after it: none is left without a result, none is dated before the restart."""
    now = timezone.now()
    monitors = []
    for index in range(50):
        monitor = Monitor(name=f"svc-{index}", kind="http", target=f"{target.url}/ok", interval_seconds=5, timeout_seconds=4,
                          retry_interval_seconds=5)
        services.monitor_upsert(monitor=monitor, now=now)
        monitors.append(monitor)
    worker = start_worker(tmp_path, concurrency=2)
    beat = start_beat(tmp_path)
    try:
        wait_until(lambda: CheckResult.objects.values("monitor_id").distinct().count() == 50, 40,
                   f"not every monitor was checked:\n{beat.output()[-2000:]}")
        beat.stop()
        due_at_stop = dict(Monitor.objects.values_list("id", "next_due_at"))
        time.sleep(11)  # more than two intervals: every monitor misses slots while no beat runs
        restarted = timezone.now()
        beat = start_beat(tmp_path, "beat-again")
        wait_until(lambda: all(CheckResult.objects.filter(monitor_id=m.pk, at__gt=restarted + timedelta(seconds=11)).exists()
                               for m in monitors), 40, f"checks did not resume:\n{beat.output()[-2000:]}")
    finally:
        stop_all(beat, worker)
    stale, skipped = [], []
    for monitor in monitors:
        after_stop = list(CheckResult.objects.filter(monitor_id=monitor.pk, at__gte=due_at_stop[monitor.pk])
                          .order_by("at").values_list("at", flat=True))
        if after_stop[0] < restarted - timedelta(seconds=5):
            stale.append((monitor.name, after_stop[0], restarted))
        if any(later - earlier != timedelta(seconds=5) for earlier, later in itertools.pairwise(after_stop)):
            skipped.append((monitor.name, after_stop))
    assert stale == []  # the first check after the restart is dated at the slot due then, not at one before it
    assert skipped == []
