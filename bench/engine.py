"""Engine benchmarks (issue 4): row size, dispatcher lag vs stock beat, checks/s, pings/s.

Each figure comes with a baseline measured in the same run on the same machine:
- bytes per CheckResult row vs a naive table (bigserial id + btree on monitor, time);
- dispatcher lag p99 vs stock celery beat holding one schedule entry per monitor;
- checks/s stored by real workers vs prometheus-blackbox-exporter probing the same target, and when every
  check changes state, with where a check's time goes (dispatch, I/O, result write, reactions), measured;
- pings/s through gunicorn vs the same server handing out a static file (whitenoise).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.harness import (
    QUICK,
    ROOT,
    Check,
    Row,
    environment,
    figure_check,
    median,
    not_measured,
    percentile,
    progress,
    ratio_check,
    setup_django,
)

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port}")


def _start(args: list[str], **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, cwd=ROOT, env={**os.environ, **environment(), **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _reset_monitors() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE monitors_checkresult, monitors_statechange, monitors_monitorregionstate, monitors_rollup, "
                       "monitors_monitor_regions, monitors_monitor_tags, monitors_monitor CASCADE")
    from core.redis_client import get_redis

    get_redis().flushdb()


# --- 1. bytes per row ---------------------------------------------------------------------------

def bytes_per_row() -> Row:
    from django.db import connection

    from monitors.models import CheckResult, Monitor, Region

    _reset_monitors()
    count = 50_000 if QUICK else 200_000
    progress(f"inserting {count:,} check results")
    region = Region.objects.get(name="default")
    monitors = Monitor.objects.bulk_create([Monitor(name=f"row-{i}", kind="http", target="http://127.0.0.1/") for i in range(200)])
    start = datetime(2026, 11, 1, tzinfo=UTC)
    per_monitor = count // len(monitors)
    batch = []
    for index in range(per_monitor):
        at = start + timedelta(seconds=60 * index)
        for monitor in monitors:
            failed = index % 97 == 0
            batch.append(CheckResult(monitor=monitor, at=at, region=region, outcome=2 if failed else 0, latency_ms=40 + index % 300,
                                     status_code=503 if failed else 200, message="HTTP 503 Service Unavailable" if failed else ""))
        if len(batch) >= 20_000:
            CheckResult.objects.bulk_create(batch)
            batch = []
    CheckResult.objects.bulk_create(batch)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_naive_result")
        cursor.execute("""CREATE TABLE bench_naive_result (id bigserial PRIMARY KEY, monitor_id bigint NOT NULL, region_id bigint NOT NULL,
                          started_at timestamptz NOT NULL, outcome smallint NOT NULL, latency_ms integer, status_code smallint,
                          message varchar(200) NOT NULL)""")
        cursor.execute("""INSERT INTO bench_naive_result (monitor_id, region_id, started_at, outcome, latency_ms, status_code, message)
                          SELECT monitor_id, region_id, at, outcome, latency_ms, status_code, message FROM monitors_checkresult""")
        cursor.execute("CREATE INDEX bench_naive_monitor_time ON bench_naive_result (monitor_id, started_at)")
        cursor.execute("CREATE INDEX bench_naive_monitor ON bench_naive_result (monitor_id)")  # what a Django FK adds
        cursor.execute("VACUUM ANALYZE monitors_checkresult")
        cursor.execute("VACUUM ANALYZE bench_naive_result")
        cursor.execute("SELECT pg_total_relation_size('monitors_checkresult'), pg_total_relation_size('bench_naive_result'), count(*) FROM monitors_checkresult")
        ours, naive, rows = cursor.fetchone()
        cursor.execute("DROP TABLE bench_naive_result")
    figure, baseline = ours / rows, naive / rows
    return Row("CheckResult size (PostgreSQL, table + indexes)", figure, "B/row", [figure_check("<=", 130, figure, "B/row")],
               baseline, "naive table", baseline / figure, f"{rows:,} rows")


# --- 2. dispatcher lag --------------------------------------------------------------------------

def _make_monitors(count: int, now: datetime) -> None:
    from monitors import services
    from monitors.models import Monitor

    monitors = Monitor.objects.bulk_create([
        Monitor(name=f"lag-{i}", kind="tcp", target="127.0.0.1:9", interval_seconds=60, timeout_seconds=5) for i in range(count)
    ])
    for monitor in monitors:
        services.schedule(monitor, now=now)
    Monitor.objects.bulk_update(monitors, ["next_due_at"], batch_size=2000)


def vigil_dispatcher_lag(count: int, seconds: float) -> list[float]:
    """Run the real dispatcher tick loop (as VigilScheduler does) and record claim lag."""
    from django.utils import timezone

    from monitors import services

    _reset_monitors()
    # Slots start a few seconds ahead, so none passes while 10,000 monitors are being created.
    _make_monitors(count, timezone.now() + timedelta(seconds=10 if count > 2000 else 3))
    lags: list[float] = []
    original = services.claim_due

    def measured_claim(*, now: datetime, limit: int = services.CLAIM_LIMIT):  # type: ignore[no-untyped-def]
        claimed = original(now=now, limit=limit)
        wall = datetime.now(UTC)
        lags.extend((wall - slot).total_seconds() for _, slot, _ in claimed)
        return claimed

    services.claim_due = measured_claim  # measuring, not changing: the same function runs
    try:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            started = time.monotonic()
            while services.dispatch_due(now=timezone.now()) >= services.CLAIM_LIMIT:
                pass
            time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))
    finally:
        services.claim_due = original
    return lags


def stock_beat_lag(count: int, seconds: float) -> list[float]:
    """Stock celery beat with one 60 s entry per monitor, spread like Vigil's offsets."""
    from celery.beat import ScheduleEntry, Scheduler
    from celery.schedules import schedule

    from portal.celery import app

    lags: list[float] = []

    class MeasuredScheduler(Scheduler):
        def apply_entry(self, entry, producer=None):  # type: ignore[no-untyped-def]
            due = entry.last_run_at + timedelta(seconds=60)
            lags.append((datetime.now(UTC) - due).total_seconds())
            return super().apply_entry(entry, producer=producer)

    now = datetime.now(UTC)
    scheduler = MeasuredScheduler(app, lazy=True)
    entries = {}
    for index in range(count):
        offset = (index * 60.0 / count)  # spread over the minute, like Vigil's per-monitor offsets
        entries[f"check-{index}"] = ScheduleEntry(
            name=f"check-{index}", task="monitors.run_check_batch", schedule=schedule(timedelta(seconds=60)),
            args=([[index, now.isoformat()]], "bench-stock"), options={"queue": "bench-stock"},
            last_run_at=now - timedelta(seconds=60) + timedelta(seconds=offset), app=app,
        )
    scheduler.schedule.update(entries)
    scheduler._heap = None  # rebuild the heap from the entries
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        interval = scheduler.tick()
        time.sleep(min(max(interval or 0, 0), 1.0, max(0.0, until - time.monotonic())))
    return lags


def dispatcher_lag() -> list[Row]:
    rows = []
    seconds = 20 if QUICK else 45
    for count in (1_000, 10_000):
        progress(f"dispatcher lag, {count:,} monitors, {seconds}s")
        ours = vigil_dispatcher_lag(count, seconds)
        progress(f"stock beat lag, {count:,} entries, {seconds}s")
        stock = stock_beat_lag(count, seconds)
        ours_p99, stock_p99 = percentile(ours, 0.99), percentile(stock, 0.99)
        # The ratio is stock beat's lag over Vigil's: below 1 means stock beat is the faster one here.
        rows.append(Row(f"dispatcher lag p99, {count:,} monitors", ours_p99, "s", [figure_check("<=", 1.0, ours_p99, "s")],
                        stock_p99, f"stock beat, {count:,} entries", stock_p99 / ours_p99 if ours_p99 > 0 else None,
                        f"p50 {median(ours):.3f}s over {len(ours):,} claims; stock p50 {median(stock):.3f}s over {len(stock):,} sends"))
    from core.redis_client import get_redis

    get_redis().delete("bench-stock")
    return rows


# --- 3. checks per second -----------------------------------------------------------------------

PHASES = ("dispatch", "io", "result_write", "reactions")


def _engine_seconds() -> dict[tuple[str, str], float]:
    """vigil_engine_seconds_total of every process so far (the workers' multiprocess files and this one's),
    by (phase, clock): what core.metrics.engine_phase measured around each phase."""
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    totals: dict[tuple[str, str], float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "vigil_engine_seconds_total":
                key = (sample.labels["phase"], sample.labels["clock"])
                totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def _reactions_pending() -> int:
    """monitor.state events some consumer of that topic has not handled yet."""
    from core.events import consumers
    from core.models import Event, EventCursor
    from monitors.services import MONITOR_STATE

    names = [item.name for item in consumers() if MONITOR_STATE in item.topics]
    positions = dict(EventCursor.objects.filter(consumer__in=names).values_list("consumer", "position"))
    return sum(Event.objects.filter(topic=MONITOR_STATE, pk__gt=positions.get(name, 0)).count() for name in names)


@dataclass
class Round:
    """One timed round of checks: stored per second and where the time went, measured."""

    checks: int
    stored_per_second: float
    seconds: float  # from before the dispatch until every result was stored
    reactions_seconds: float | None  # from before the dispatch until every reaction was done (None: not waited for)
    cpu_ms: float  # CPU per check: the worker processes (checks, result writes, reactions) plus the dispatch
    phases: dict[tuple[str, str], float]  # (phase, clock) -> seconds over the round

    def breakdown(self) -> str:
        per_check = {key: value * 1000 / self.checks for key, value in self.phases.items()}
        parts = [f"{phase.replace('_', ' ')} {per_check.get((phase, 'cpu'), 0.0):.3f} ms CPU ({per_check.get((phase, 'wall'), 0.0):.3f} ms wall)"
                 for phase in PHASES]
        return "per check: " + ", ".join(parts)


class CheckFleet:
    """Monitors on the bench's local target and two real workers (celery, concurrency 1)."""

    def __init__(self, url: str, total: int) -> None:
        from monitors.models import Monitor

        self.url, self.total = url, total
        monitors = Monitor.objects.bulk_create([
            Monitor(name=f"cps-{i}", kind="http", target=url, interval_seconds=3600, timeout_seconds=5, retries=0) for i in range(total)
        ])
        self.ids = [m.pk for m in monitors]
        self.workers = [_start([str(BIN / "celery"), "-A", "portal", "worker", "--concurrency=1", "--queues=vigil,checks.default",
                                f"--hostname=bench-{name}@%h", "--without-gossip", "--without-mingle", "--loglevel=WARNING"])
                        for name in ("a", "b")]

    def stop(self) -> None:
        for worker in self.workers:
            _stop(worker)

    def round(self, *, wait_for_reactions: bool = False) -> Round:
        from django.utils import timezone

        from bench import peers
        from monitors import services
        from monitors.models import CheckResult, Monitor

        before_stored = CheckResult.objects.count()
        Monitor.objects.filter(pk__in=self.ids).update(next_due_at=timezone.now())
        cpu_before = sum(peers.cpu_seconds(worker.pid) for worker in self.workers)
        phases_before = _engine_seconds()
        started = time.monotonic()  # before dispatch: dispatching is part of a check's cost
        while services.dispatch_due(now=timezone.now()) >= services.CLAIM_LIMIT:
            pass
        deadline = started + 300
        while CheckResult.objects.count() - before_stored < self.total and time.monotonic() < deadline:
            time.sleep(0.05)
        seconds = time.monotonic() - started
        stored = CheckResult.objects.count() - before_stored
        reactions_seconds = None
        if wait_for_reactions:
            while _reactions_pending() and time.monotonic() < deadline:
                time.sleep(0.1)
            reactions_seconds = time.monotonic() - started if not _reactions_pending() else None
        else:
            time.sleep(1.0)  # reactions queued by the round (none when nothing changed state) finish and are counted
        phases_after = _engine_seconds()
        phases = {key: phases_after.get(key, 0.0) - phases_before.get(key, 0.0) for key in phases_after}
        worker_cpu = sum(peers.cpu_seconds(worker.pid) for worker in self.workers) - cpu_before
        cpu_ms = (worker_cpu + phases.get(("dispatch", "cpu"), 0.0)) * 1000 / self.total
        return Round(self.total, stored / seconds, seconds, reactions_seconds, cpu_ms, phases)


def _fleet_rounds(url: str, total: int) -> tuple[Round, Round, int]:
    """Round 1 warms up (unknown -> up), round 2 changes nothing (the steady state), round 3 makes every
    check change state (up -> down: the target answers 503) and waits for every reaction."""
    from monitors.models import CheckResult, Monitor

    fleet = CheckFleet(url, total)
    try:
        progress(f"{total:,} http monitors; 2 worker processes; round 1 warms up (every monitor goes unknown -> up)")
        fleet.round(wait_for_reactions=True)
        progress("round 2: steady state (no state changes)")
        steady = fleet.round()
        progress("round 3: every check changes state (up -> down), until every reaction is done")
        Monitor.objects.filter(pk__in=fleet.ids).update(target=url.replace("/health", "/fail"))
        changing = fleet.round(wait_for_reactions=True)
        stored = CheckResult.objects.count()
    finally:
        fleet.stop()
    return steady, changing, stored


def checks_per_second() -> list[Row]:
    import requests

    _reset_monitors()
    port = _free_port()
    target = _start([sys.executable, "-m", "bench.target_server", str(port)])
    _wait_for_port(port)
    try:
        url = f"http://127.0.0.1:{port}/health"
        session = requests.Session()
        progress("baseline: one thread calling the target")
        count, until = 0, time.monotonic() + 3
        started = time.monotonic()
        while time.monotonic() < until:
            _ = session.get(url, timeout=5).content
            count += 1
        baseline = count / (time.monotonic() - started)
        blackbox, blackbox_cpu_ms = _blackbox_probes_per_second(url)
        total = 2_000 if QUICK else 6_000
        steady, changing, stored = _fleet_rounds(url, total)
    finally:
        _stop(target)
    ratio = steady.stored_per_second / blackbox if blackbox else None
    cpu_ratio = steady.cpu_ms / blackbox_cpu_ms if blackbox_cpu_ms else None
    peer_note = f"blackbox {blackbox_cpu_ms:.3f} ms CPU per probe" if blackbox_cpu_ms else "blackbox not installed (make bench-peers): ratio not measured"
    steady_row = Row(
        "checks stored per second (2 worker processes, clock from dispatch)", steady.stored_per_second, "checks/s",
        [figure_check(">=", 1000, steady.stored_per_second, "checks/s"), ratio_check(">=", 1.0, ratio),
         Check("CPU per check vs blackbox's per probe", "<=", 1.0, cpu_ratio)],
        blackbox, "prometheus-blackbox-exporter probes", ratio,
        f"{total:,} checks in {steady.seconds:.2f} s; CPU {steady.cpu_ms:.3f} ms per check (workers and dispatch; {peer_note}); "
        f"{steady.breakdown()}; {stored:,} results over three rounds; one thread with requests alone: {baseline:,.0f}/s")
    reacted = total / changing.reactions_seconds if changing.reactions_seconds else None
    changing_row = Row(
        "checks stored per second, every check changes state", changing.stored_per_second, "checks/s",
        [figure_check(">=", 1000, changing.stored_per_second, "checks/s")],
        steady.stored_per_second, "the same fleet, no state change", changing.stored_per_second / steady.stored_per_second,
        f"{total:,} state changes stored in {changing.seconds:.2f} s; every reaction (components, alerting, SLO, status pages, live) "
        + (f"done after {changing.reactions_seconds:.2f} s ({reacted:,.0f} checks/s)" if changing.reactions_seconds else "not done within 300 s")
        + f"; CPU {changing.cpu_ms:.3f} ms per check; {changing.breakdown()}")
    return [steady_row, changing_row]


def _blackbox_probes_per_second(target: str) -> tuple[float | None, float | None]:
    """prometheus-blackbox-exporter probing the same target, loaded by wrk with 16 connections:
    probes per second and its CPU milliseconds per probe."""
    from bench import peers

    port = _free_port()
    exporter = peers.start_blackbox(port)
    if exporter is None or peers.WRK is None:
        return None, None
    try:
        _wait_for_port(port)
        seconds = 5 if QUICK else 15
        progress(f"peer: blackbox_exporter probing the same target, 16 connections, {seconds}s")
        cpu_before = peers.cpu_seconds(exporter.pid)
        result = peers.wrk(f"http://127.0.0.1:{port}/probe?module=http_2xx&target={target}", seconds=seconds, connections=16)
        cpu = peers.cpu_seconds(exporter.pid) - cpu_before
    finally:
        exporter.terminate()
        exporter.wait(10)
    if not result or result.errors or not result.per_second:
        return None, None
    return result.per_second, cpu * 1000 / (result.per_second * seconds)


# --- 4. pings per second ------------------------------------------------------------------------

def pings_per_second() -> Row:
    """Pings on the `make run` server (the Procfile's web line) against nginx answering a static
    200, both loaded by wrk in this run; then every accepted ping must be applied."""
    from bench import peers
    from monitors import pings as ping_buffer
    from monitors.models import CheckResult, Monitor

    name = "heartbeat pings per second (make run server)"
    checks = [figure_check(">=", 5000, None, "pings/s"), ratio_check(">=", 0.1, None)]
    missing = [tool for tool, path in (("nginx", peers.NGINX), ("wrk", peers.WRK)) if path is None]
    if missing:
        return not_measured(name, "pings/s", checks, f"{' and '.join(missing)} not installed (make bench-peers)")
    _reset_monitors()
    job = Monitor.objects.create(name="job", kind="heartbeat", interval_seconds=60, timeout_seconds=5, heartbeat_period_seconds=3600)
    vigil_port, nginx_port = _free_port(), _free_port()
    # Each ping still pays for its rate counter; the limit is raised so none is refused.
    server = _start(peers.procfile_web_args(vigil_port), VIGIL_PING_RATE="1000000000")
    nginx = peers.start_nginx(nginx_port, 'location / { default_type text/plain; return 200 "OK\\n"; }')
    assert nginx is not None
    seconds = 5 if QUICK else 15
    try:
        _wait_for_port(vigil_port)
        _wait_for_port(nginx_port)
        url = f"http://127.0.0.1:{vigil_port}/ping/{job.ping_token}"
        peers.wrk(url, seconds=2)  # warm up
        progress(f"pings: nginx static 200 and the make run server, 64 connections, {seconds}s each")
        peer = peers.wrk(f"http://127.0.0.1:{nginx_port}/", seconds=seconds)
        ours = peers.wrk(url, seconds=seconds)
    finally:
        _stop(server)
        nginx.terminate()
        nginx.wait(10)
    if peer is None or ours is None:
        return not_measured(name, "pings/s", checks, "wrk printed no figure")
    applied = 0
    while (drained := ping_buffer.drain(now=datetime.now(UTC), consumer="bench", batch=5000, rounds=50)):
        applied += drained
    stored = CheckResult.objects.filter(monitor_id=job.pk).count()
    ratio = ours.per_second / peer.per_second if peer.per_second else None
    return Row(name, ours.per_second, "pings/s", [figure_check(">=", 5000, ours.per_second, "pings/s"), ratio_check(">=", 0.1, ratio),
                                                    Check("errors", "<=", 0, ours.errors), Check("lost", "<=", 0, applied - stored)],
               peer.per_second, "nginx, static 200", ratio,
               f"p99 {ours.p99_ms:.1f} ms (nginx {peer.p99_ms:.1f} ms); {applied:,} pings drained, {stored:,} results stored")


def run() -> list[Row]:
    setup_django()
    rows = [bytes_per_row()]
    rows += dispatcher_lag()
    rows += checks_per_second()
    rows.append(pings_per_second())
    return rows
