"""A worker writes a batch's results as they finish (monitors.tasks.check_batch): the fast checks'
results are stored while a slow one is still in flight, instead of waiting for it (up to its
timeout) and writing everything at once."""

from __future__ import annotations

import threading
import time

import pytest
from django.utils import timezone

from core.metrics import engine_seconds
from monitors import services, tasks
from monitors.models import CheckResult, Monitor
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db


def test_fast_results_are_written_while_a_slow_check_is_still_running(monkeypatch):
    first_write = threading.Event()
    writes: list[list[tuple[int, str]]] = []
    record = services.record_results

    def observed(**kwargs):  # type: ignore[no-untyped-def]
        writes.append(sorted((item.monitor_id, item.result.outcome) for item in kwargs["checked"]))
        first_write.set()
        return record(**kwargs)

    def slow(handler):  # type: ignore[no-untyped-def]
        # Answers only once the other checks' results were handed to the writer (or gives up after 8 s,
        # past the check's 3 s timeout: then the check reports a timeout and the test fails).
        first_write.wait(8)
        respond(handler, 200, b"slow but fine")

    server = HTTPServer({"/fast": lambda handler: respond(handler, 200, b"fine"), "/slow": slow})
    monkeypatch.setattr(services, "record_results", observed)
    monkeypatch.setattr(tasks, "STRAGGLER_SECONDS", 0.2)
    try:
        fast = [Monitor.objects.create(name=f"fast-{i}", kind="http", target=f"{server.url}/fast", timeout_seconds=3, retries=0)
                for i in range(5)]
        lagging = Monitor.objects.create(name="slow", kind="http", target=f"{server.url}/slow", timeout_seconds=3, retries=0)
        slot = timezone.now()
        assert tasks.check_batch([[m.pk, slot.isoformat()] for m in [*fast, lagging]], "default") == 6
    finally:
        server.close()
    assert writes == [sorted((m.pk, "ok") for m in fast), [(lagging.pk, "ok")]]
    assert CheckResult.objects.filter(at=slot).count() == 6
    assert set(Monitor.objects.values_list("state", flat=True)) == {"up"}


def test_a_hung_check_is_written_down_when_its_timeout_passes_and_the_rest_up(monkeypatch):
    release = threading.Event()

    def hung(handler):  # type: ignore[no-untyped-def]
        release.wait(10)
        respond(handler, 200, b"too late")

    server = HTTPServer({"/hung": hung, "/fast": lambda handler: respond(handler, 200, b"fine")})
    try:
        fast = Monitor.objects.create(name="fast", kind="http", target=f"{server.url}/fast", timeout_seconds=1, retries=0)
        hung_monitor = Monitor.objects.create(name="hung", kind="http", target=f"{server.url}/hung", timeout_seconds=1, retries=0)
        slot = timezone.now()
        tasks.check_batch([[fast.pk, slot.isoformat()], [hung_monitor.pk, slot.isoformat()]], "default")
    finally:
        release.set()
        server.close()
    outcomes = dict(CheckResult.objects.filter(at=slot).values_list("monitor_id", "outcome"))
    assert outcomes == {fast.pk: CheckResult.Outcome.OK, hung_monitor.pk: CheckResult.Outcome.DOWN}


def test_a_batch_counts_where_its_time_went_without_counting_twice():
    """vigil_engine_seconds_total: the writes' CPU is the writing thread's, the I/O's the rest of the
    process's, so the two add up to the batch's CPU even though they overlap in time."""
    def seconds(phase: str, clock: str) -> float:
        return float(engine_seconds.labels(phase, clock)._value.get())

    server = HTTPServer({"/fast": lambda handler: respond(handler, 200, b"fine")})
    before = {(phase, clock): seconds(phase, clock) for phase in ("io", "result_write") for clock in ("cpu", "wall")}
    try:
        monitors = [Monitor.objects.create(name=f"m-{i}", kind="http", target=f"{server.url}/fast", retries=0) for i in range(20)]
        slot = timezone.now()
        cpu, wall = time.process_time(), time.monotonic()
        tasks.check_batch([[m.pk, slot.isoformat()] for m in monitors], "default")
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    finally:
        server.close()
    spent = {key: seconds(*key) - value for key, value in before.items()}
    assert spent[("io", "wall")] > 0 and spent[("result_write", "wall")] > 0 and spent[("result_write", "cpu")] > 0
    assert spent[("io", "wall")] + spent[("result_write", "wall")] <= wall
    # The server's threads run in this process too: the batch's phases can only count less than all of it.
    assert 0 < spent[("io", "cpu")] + spent[("result_write", "cpu")] <= cpu
