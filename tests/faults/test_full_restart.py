"""Fault 12: every process (web, worker, beat) restarted while the status page is under
load and monitors are being checked: no 5xx, no duplicate result, and no result lost
beyond the restart window."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

import pytest
import requests

from monitors.models import CheckResult, Monitor
from tests.faults.helpers import start_web
from tests.processes import start_beat, start_worker, stop_all, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Load:
    """Eight clients asking for the status page as fast as they can."""

    def __init__(self, url: str, clients: int = 8) -> None:
        self.url, self.codes, self.running = url, [], True
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        session = requests.Session()
        while self.running:
            try:
                code = session.get(self.url, timeout=5).status_code
            except requests.RequestException:
                code = 0  # refused while the web process restarts: not an error page
                time.sleep(0.05)
            with self.lock:
                self.codes.append(code)

    def stop(self) -> list[int]:
        self.running = False
        for thread in self.threads:
            thread.join(10)
        return self.codes


def test_restarting_everything_under_load(watched, tmp_path):
    worker, beat = start_worker(tmp_path, "worker-1"), start_beat(tmp_path, "beat-1")
    web, url = start_web(tmp_path, "web-1")
    port = int(url.rsplit(":", 1)[1])
    load = Load(f"{url}/status/")
    try:
        wait_until(lambda: Monitor.objects.filter(state="up").count() == len(watched), 40, "monitors did not come up")
        time.sleep(6)
        restart_started = time.monotonic()
        stop_all(web, beat, worker)
        worker, beat = start_worker(tmp_path, "worker-2"), start_beat(tmp_path, "beat-2")
        web, _ = start_web(tmp_path, "web-2", port=port)
        window = time.monotonic() - restart_started
        time.sleep(12)
    finally:
        codes = load.stop()
        stop_all(web, beat, worker)

    served = [code for code in codes if code]
    assert len(served) > 100 and not [code for code in codes if code >= 500], sorted(set(codes))
    for monitor in watched:
        slots = list(CheckResult.objects.filter(monitor_id=monitor.pk).order_by("at").values_list("at", flat=True))
        assert len(slots) == len(set(slots))  # no duplicate
        gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
        assert gaps and max(gaps) <= timedelta(seconds=monitor.interval_seconds + window + 2), (monitor.name, max(gaps), window)
        assert slots[-1] > slots[0] + timedelta(seconds=window)  # it was checked after the restart too
