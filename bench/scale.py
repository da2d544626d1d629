"""Beyond one machine, by simulation (issue 23, goal 6): 50,000 monitors every 60 s on this
machine through the real dispatcher and result writer, with only the network stubbed.

Real: celery beat with Vigil's scheduler (its tick calls monitors.services.dispatch_due, which
claims with claim_due), Celery over Redis, one worker as the Procfile starts it
(--concurrency=2) running monitors.tasks.check_batch, record_results with its events and the
event consumers (components, alerting, live), every periodic task of the beat schedule,
PostgreSQL. Stubbed: the "http" checker answers at once (bench/scale_process.py), so what is
measured is what Vigil itself costs per check; one monitor in 100 goes down and up every
2 minutes, so state changes and reactions run all along.

Phase 1: 5,000 monitors (the baseline, measured in the same run). Phase 2: 50,000. Monitors are
created as if they had been running (up, their region's verdict up): the steady state is
simulated, not a mass import (each new monitor's first result would be a state change, one
event apiece). Each phase has a warm-up round, waits for the check queue and the event
consumers to catch up, and then measures a window:
- dispatcher lag: wall clock at the claim minus the claimed slot, every claim of the real
  dispatcher (p50/p99);
- checks stored per second against the schedule's demand, and check lag (slot -> result stored);
- database writes: rows inserted, updated and deleted per second and transactions committed
  per second (pg_stat_database / pg_stat_user_tables of the bench database), table growth per day;
- CPU of beat, worker, PostgreSQL and Redis; the check queue's depth.
The figures go to bench/results/scale-detail.json and docs/scaling.md.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psutil

from bench.engine import _start, _stop
from bench.harness import QUICK, RESULTS, Check, Row, figure_check, median, percentile, progress, ratio_check, setup_django
from bench.system import Sampler, _lags, _queue_depth

INTERVAL = 60
SMALL, LARGE = int(os.environ.get("BENCH_SCALE_SMALL", 5_000)), int(os.environ.get("BENCH_SCALE_LARGE", 50_000))
COMPONENTS = 50
SETTLED_QUEUE = 5  # check batches (50 checks each) waiting
SETTLED_EVENTS = 100
TABLES = ("monitors_checkresult", "monitors_monitor", "monitors_monitorregionstate", "monitors_statechange", "core_event",
          "monitors_rollup")


def _make_monitors(count: int, first: int) -> None:
    from django.utils import timezone

    from incidents.models import Component
    from monitors import services
    from monitors.models import Monitor, MonitorRegionState

    components = list(Component.objects.filter(name__startswith="scale-").order_by("pk"))
    if not components:
        components = [Component.objects.create(name=f"scale-{i}") for i in range(COMPONENTS)]
    since = timezone.now() - timedelta(days=1)
    region = services.default_region()
    for start in range(first, first + count, 5000):
        monitors = Monitor.objects.bulk_create([
            # One monitor in ten belongs to a component, so state changes reach component reactions.
            Monitor(name=f"scale-{i}", kind="http", target=f"http://sim-{i}.invalid/", interval_seconds=INTERVAL, timeout_seconds=5,
                    retries=0, state=Monitor.State.UP, state_since=since, state_reason="up", component=components[i % COMPONENTS] if i % 10 == 0 else None)
            for i in range(start, min(first + count, start + 5000))
        ])
        # Monitors that have been running for a while: up, with their region's verdict up. New
        # ones would each go unknown -> up in their first round, one event apiece (measured
        # once, in docs/scaling.md); the steady state is what is simulated here. Scheduled
        # last: the dispatcher claims none of them before its state is there.
        MonitorRegionState.objects.bulk_create([
            MonitorRegionState(monitor=monitor, region=region, verdict="up", consecutive_ok=1, consecutive_not_down=1)
            for monitor in monitors
        ], batch_size=5000)
        now = timezone.now() + timedelta(seconds=5)
        for monitor in monitors:
            services.schedule(monitor, now=now)
        Monitor.objects.bulk_update(monitors, ["next_due_at"], batch_size=5000)


def _counters() -> dict[str, float]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database WHERE datname = current_database()")
        commits, inserted, updated, deleted = cursor.fetchone()
        cursor.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del, pg_total_relation_size(relid) FROM pg_stat_user_tables")
        tables = cursor.fetchall()
        cursor.execute("SELECT pg_database_size(current_database())")
        database = cursor.fetchone()[0]
    from monitors.models import CheckResult

    found: dict[str, float] = {"time": time.monotonic(), "commits": commits, "inserted": inserted, "updated": updated, "deleted": deleted,
                               "database_bytes": database, "results": CheckResult.objects.count()}
    for name, written, size in tables:
        found[f"rows:{name}"] = written
        found[f"bytes:{name}"] = size
    return found


def _lags_since(lag_file: Path, since_wall: float) -> list[float]:
    lags = []
    for line in lag_file.read_text().splitlines():
        wall, lag = line.split()
        if float(wall) >= since_wall:
            lags.append(float(lag))
    return lags


def _window(label: str, count: int, seconds: int, lag_file: Path, processes: dict[str, psutil.Process]) -> dict[str, object]:
    """Measure one steady-state window: everything per second over the window."""
    from django.db import connections

    connections.close_all()  # pg_stat counters of this session's earlier work are flushed
    time.sleep(1.5)
    progress(f"{label}: measuring {seconds}s at {count:,} monitors")
    sampler = Sampler(processes)
    sampler.start(every=3.0)
    before, wall_start = _counters(), time.time()
    depth: list[int] = []
    check_lags: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(10.0, max(0.0, deadline - time.monotonic())))
        depth.append(_queue_depth())
        check_lags += _lags()
    connections.close_all()
    time.sleep(1.5)  # backends flush their statistics at least once a second
    after = _counters()
    usage = sampler.stop()
    elapsed = after["time"] - before["time"] - 1.5
    dispatch = _lags_since(lag_file, wall_start)
    written = {name.removeprefix("rows:"): (after[name] - before.get(name, 0)) / elapsed for name in after if name.startswith("rows:")}
    growth = {name.removeprefix("bytes:"): (after[name] - before.get(name, 0)) / elapsed * 86400 for name in after if name.startswith("bytes:")}
    found: dict[str, object] = {
        "monitors": count, "seconds": round(elapsed, 1),
        "dispatch_lag_p50_s": median(dispatch), "dispatch_lag_p99_s": percentile(dispatch, 0.99), "claims": len(dispatch),
        "check_lag_p50_s": median(check_lags), "check_lag_p99_s": percentile(check_lags, 0.99),
        "stored_per_second": (after["results"] - before["results"]) / elapsed, "demand_per_second": count / INTERVAL,
        "commits_per_second": (after["commits"] - before["commits"]) / elapsed,
        "rows_written_per_second": sum(after[k] - before[k] for k in ("inserted", "updated", "deleted")) / elapsed,
        "rows_by_table_per_second": {k: round(v, 1) for k, v in sorted(written.items(), key=lambda kv: -kv[1]) if v >= 0.05},
        "growth_bytes_per_day": {k: v for k, v in growth.items() if k in TABLES},
        "database_growth_bytes_per_day": (after["database_bytes"] - before["database_bytes"]) / elapsed * 86400,
        "queue_depth_max": max(depth, default=0), "processes": usage,
    }
    progress(f"{label}: dispatch lag p99 {found['dispatch_lag_p99_s']:.3f}s, {found['stored_per_second']:.0f} stored/s, "
             f"{found['rows_written_per_second']:.0f} rows written/s, {found['commits_per_second']:.0f} commits/s, queue max {found['queue_depth_max']}")
    return found


def _settle(label: str, most: float) -> float:
    """After a warm-up round: wait until the check queue and the event consumers have caught up
    (what a tick adds is always in flight), at most `most` seconds.
    Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < most:
        depth, behind = _queue_depth(), sum(_consumers_behind().values())
        if depth <= SETTLED_QUEUE and behind <= SETTLED_EVENTS:
            break
        progress(f"{label}: settling, queue {depth}, events not yet consumed {behind:,}")
        time.sleep(10)
    return time.monotonic() - started


def _consumers_behind() -> dict[str, int]:
    from core import events

    return {item.name: item.pending for item in events.status() if item.pending}


def run() -> list[Row]:
    setup_django()
    from django.utils import timezone

    from monitors import rollups
    from monitors.models import Monitor

    RESULTS.mkdir(parents=True, exist_ok=True)
    lag_file = Path(tempfile.mkdtemp(prefix="vigil-bench-scale-")) / "dispatch-lags.txt"
    lag_file.touch()
    progress(f"phase 1: {SMALL:,} http monitors every {INTERVAL}s (stub network), {COMPONENTS} components")
    _make_monitors(SMALL, 0)
    worker = _start([_python(), "-m", "bench.scale_process", "-A", "portal", "worker", "--concurrency=2", "--queues=vigil,checks.default",
                     "--hostname=scale@%h", "--without-gossip", "--without-mingle", "--loglevel=WARNING"])
    beat = _start([_python(), "-m", "bench.scale_process", "-A", "portal", "beat", "--loglevel=WARNING",
                   f"--schedule={lag_file.parent}/beat-schedule"], BENCH_LAG_FILE=str(lag_file))
    detail: dict[str, object] = {}
    try:
        processes = {"beat": psutil.Process(beat.pid), "worker": psutil.Process(worker.pid)}
        time.sleep(INTERVAL + 15)  # warm-up round
        _alive(beat, worker)
        detail["settle_small_s"] = _settle("phase 1", 120)
        small = _window("phase 1", SMALL, 45 if QUICK else 90, lag_file, processes)
        progress(f"phase 2: adding monitors up to {LARGE:,}")
        _make_monitors(LARGE - SMALL, SMALL)
        time.sleep(INTERVAL + 20)
        _alive(beat, worker)
        detail["settle_large_s"] = _settle("phase 2", 300)
        large = _window("phase 2", LARGE, 120 if QUICK else 240, lag_file, processes)
        detail["consumers_behind_at_end"] = _consumers_behind()
    finally:
        _stop(beat)
        _stop(worker)
    progress(f"timing one rollup refresh (beat asks for it every minute) at {LARGE:,} monitors")
    started = time.monotonic()
    rollups.refresh_recent(now=timezone.now())
    refresh_seconds = time.monotonic() - started
    detail.update({"small": small, "large": large, "rollup_refresh_s": refresh_seconds, "monitors": Monitor.objects.count()})
    (RESULTS / "scale-detail.json").write_text(json.dumps(detail, indent=2, default=str))
    return _rows(small, large, refresh_seconds, float(detail["settle_large_s"]))  # type: ignore[arg-type]


def _python() -> str:
    import sys

    return sys.executable


def _alive(*processes: object) -> None:
    for process in processes:
        code = process.poll()  # type: ignore[attr-defined]
        if code is not None:
            raise RuntimeError(f"a bench process exited (code {code}): {process.args}")  # type: ignore[attr-defined]


def _rows(small: dict, large: dict, refresh_seconds: float, settle: float) -> list[Row]:  # type: ignore[type-arg]
    name = f"simulated {LARGE:,} monitors x {INTERVAL} s (stub network)"
    lag, base_lag = large["dispatch_lag_p99_s"], small["dispatch_lag_p99_s"]
    stored, demand = large["stored_per_second"], large["demand_per_second"]
    rows_s, base_rows_s = large["rows_written_per_second"], small["rows_written_per_second"]
    cpu = large["processes"]
    cpu_text = ", ".join(f"{label} {usage['cpu_avg_percent']:.0f}%" for label, usage in cpu.items())
    growth = large["growth_bytes_per_day"]
    tables = ", ".join(f"{table.removeprefix('monitors_')} {per_second:,.0f}" for table, per_second in list(large["rows_by_table_per_second"].items())[:5])
    return [
        Row(f"{name}: dispatcher lag p99 (slot -> claimed)", lag, "s", [figure_check("<=", 1.0, lag, "s")],
            base_lag, f"the same at {SMALL:,} monitors", lag / base_lag if base_lag else None,
            f"p50 {large['dispatch_lag_p50_s']:.3f} s over {large['claims']:,} claims in {large['seconds']:.0f} s "
            f"(at {SMALL:,}: p50 {small['dispatch_lag_p50_s']:.3f} s); ratio is this lag over the one at {SMALL:,}"),
        Row(f"{name}: checks stored per second", stored, "checks/s",
            [ratio_check(">=", 0.98, stored / demand), Check("check lag p99", "<=", 10, large["check_lag_p99_s"], "s")],
            demand, f"the schedule's demand ({LARGE:,} / {INTERVAL} s)", stored / demand,
            f"check lag (slot -> stored) p50 {large['check_lag_p50_s']:.2f} s, p99 {large['check_lag_p99_s']:.2f} s; "
            f"queue depth max {large['queue_depth_max']}; after the {LARGE - SMALL:,} added monitors' first round, queue and event "
            f"consumers took {settle:.0f} s more to catch up; CPU (% of one core, average): {cpu_text}"),
        Row(f"{name}: database writes (rows written per second)", rows_s, "rows/s", [], base_rows_s, f"the same at {SMALL:,} monitors",
            rows_s / base_rows_s if base_rows_s else None,
            f"{large['commits_per_second']:,.0f} transactions committed/s (reads included; {small['commits_per_second']:,.0f} at {SMALL:,}); "
            f"rows/s by table: {tables}; growth per day: database {large['database_growth_bytes_per_day'] / 2**30:.1f} GiB, "
            f"results {growth.get('monitors_checkresult', 0) / 2**30:.1f} GiB, events {growth.get('core_event', 0) / 2**30:.2f} GiB; "
            f"one rollup refresh took {refresh_seconds:.1f} s"),
    ]
