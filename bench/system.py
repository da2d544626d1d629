"""The whole system under load (issue 10): real beat, two workers, gunicorn, PostgreSQL, Redis.

1. The public status page under 64 concurrent clients for 60 s while 1,000 monitors are
   being checked; baseline: the same load on the same server with nothing being checked.
2. 10,000 monitors on 60 s intervals for 10 minutes (2 with BENCH_QUICK): check lag
   (from a slot coming due to its result being stored) p50/p99, checks stored (every check due
   in the window, counted by slot, against the number due: 10,000 a minute),
   monitors overdue, queue depth, CPU and memory of each process, database growth per day.
   Baseline: the same lag measured at 1,000 monitors in part 1.
The figures go to bench/results/system.json and docs/scaling.md.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import psutil

from bench.engine import BIN, _free_port, _start, _stop, _wait_for_port
from bench.harness import QUICK, RESULTS, Check, Row, figure_check, median, percentile, progress, ratio_check, setup_django

INTERVAL = 60


@dataclass
class Sampler:
    """CPU (percent of one core) and memory (RSS, MB) of named process trees, sampled every few seconds."""

    processes: dict[str, psutil.Process]
    cpu: dict[str, list[float]] = field(default_factory=dict)
    rss: dict[str, list[float]] = field(default_factory=dict)
    running: bool = True
    # cpu_percent() measures since the previous call on the same object: keep one object per pid.
    known: dict[int, psutil.Process] = field(default_factory=dict)

    def _same(self, processes: list[psutil.Process]) -> list[psutil.Process]:
        return [self.known.setdefault(process.pid, process) for process in processes]

    @staticmethod
    def by_name(name: str) -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["name"]) if p.info["name"] and p.info["name"].startswith(name)]

    def _tree(self, label: str) -> list[psutil.Process]:
        if label == "postgres":
            return self._same(self.by_name("postgres"))
        if label == "redis":
            return self._same(self.by_name("redis-server"))
        root = self.processes[label]
        try:
            return self._same([root, *root.children(recursive=True)])
        except psutil.NoSuchProcess:
            return []

    def start(self, every: float = 5.0) -> None:
        def loop() -> None:
            labels = [*self.processes, "postgres", "redis"]
            for label in labels:
                for process in self._tree(label):
                    try:
                        process.cpu_percent(None)
                    except psutil.Error:
                        pass
            while self.running:
                time.sleep(every)
                for label in labels:
                    cpu = rss = 0.0
                    for process in self._tree(label):
                        try:
                            cpu += process.cpu_percent(None)
                            rss += process.memory_info().rss / 2**20
                        except psutil.Error:
                            pass
                    self.cpu.setdefault(label, []).append(cpu)
                    self.rss.setdefault(label, []).append(rss)

        threading.Thread(target=loop, daemon=True).start()

    def stop(self) -> dict[str, dict[str, float]]:
        self.running = False
        return {label: {"cpu_avg_percent": round(sum(v) / len(v), 1) if v else 0.0, "cpu_max_percent": round(max(v, default=0.0), 1),
                        "rss_max_mb": round(max(self.rss.get(label, [0.0])), 1)} for label, v in self.cpu.items()}


def _make_monitors(count: int, url: str, first: int = 0) -> list[int]:
    from django.utils import timezone

    from monitors import services
    from monitors.models import Monitor

    now = timezone.now() + timedelta(seconds=5)
    monitors = Monitor.objects.bulk_create([
        Monitor(name=f"sys-{i}", kind="http", target=url, interval_seconds=INTERVAL, timeout_seconds=5, retries=0)
        for i in range(first, first + count)
    ], batch_size=2000)
    for monitor in monitors:
        services.schedule(monitor, now=now)
    Monitor.objects.bulk_update(monitors, ["next_due_at"], batch_size=2000)
    return [m.pk for m in monitors]


def _lags() -> list[float]:
    """Seconds from each monitor's latest slot to its result being stored."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""SELECT EXTRACT(EPOCH FROM m.last_checked_at - s.last_slot) FROM monitors_monitor m
                          JOIN monitors_monitorregionstate s ON s.monitor_id = m.id
                          WHERE m.last_checked_at IS NOT NULL AND s.last_slot IS NOT NULL""")
        return [float(row[0]) for row in cursor.fetchall()]


def _sizes() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database()), pg_total_relation_size('monitors_checkresult'), "
                       "pg_total_relation_size('monitors_rollup')")
        database, results, rollups = cursor.fetchone()
    return {"database": database, "results": results, "rollups": rollups}


def _queue_depth() -> int:
    from core.redis_client import broker_redis_url, get_redis

    return int(get_redis(broker_redis_url()).llen("checks.default"))


def _overdue() -> int:
    from django.utils import timezone

    from monitors.models import Monitor

    return Monitor.objects.filter(next_due_at__lt=timezone.now() - timedelta(seconds=5)).count()


def run() -> list[Row]:
    setup_django()
    from django.core.management import call_command

    from bench.load_client import run_load
    from monitors.models import CheckResult, Monitor
    from statuspage.tasks import rebuild_all

    call_command("collectstatic", "--noinput", verbosity=0)
    from bench.statuspage import _make_page

    progress("a status page: 50 components, 90 days of rollups, 30 incidents")
    _make_page()
    Monitor.objects.all().delete()
    rebuild_all()
    target_port, web_port = _free_port(), _free_port()
    target = _start([sys.executable, "-m", "bench.target_server", str(target_port)])
    web = _start([str(BIN / "gunicorn"), "portal.wsgi:application", "-b", f"127.0.0.1:{web_port}", "-k", "gthread", "--workers", "2",
                  "--threads", "16", "--keep-alive", "30", "--log-level", "warning"])
    started: list = [target, web]
    results: dict[str, object] = {}
    rows: list[Row] = []
    try:
        _wait_for_port(target_port)
        _wait_for_port(web_port)
        browser = {"Accept-Encoding": "gzip, deflate, br"}
        run_load("127.0.0.1", web_port, ["/status/"], connections=8, seconds=2, headers=browser)  # warm up
        seconds = 20 if QUICK else 60
        progress(f"baseline: status page, 64 clients, {seconds // 2}s, nothing being checked")
        idle = run_load("127.0.0.1", web_port, ["/status/"], connections=64, seconds=seconds // 2, headers=browser)

        url = f"http://127.0.0.1:{target_port}/health"
        progress("1,000 http monitors every 60 s; beat and two workers start")
        _make_monitors(1000, url)
        workers = [_start([str(BIN / "celery"), "-A", "portal", "worker", "--concurrency=1", "--queues=vigil,checks.default",
                           f"--hostname=sys-{name}@%h", "--without-gossip", "--without-mingle", "--loglevel=WARNING"]) for name in "ab"]
        RESULTS.mkdir(parents=True, exist_ok=True)
        beat = _start([str(BIN / "celery"), "-A", "portal", "beat", "--loglevel=WARNING", f"--schedule={RESULTS}/system-beat-schedule"])
        started += [*workers, beat]
        time.sleep(INTERVAL + 10)  # one full round: every monitor checked once
        if beat.poll() is not None or CheckResult.objects.count() < 900:
            raise RuntimeError(f"the system is not checking (beat exit code {beat.poll()}, {CheckResult.objects.count()} results)")
        progress(f"status page, 64 clients, {seconds}s, while 1,000 monitors are checked")
        before = CheckResult.objects.count()
        loaded = run_load("127.0.0.1", web_port, ["/status/"], connections=64, seconds=seconds, headers=browser)
        checked_during = CheckResult.objects.count() - before
        lags_1k = _lags()
        p95, idle_p95 = percentile(loaded.latencies, 0.95) * 1000, percentile(idle.latencies, 0.95) * 1000
        server_errors = loaded.errors + sum(n for s, n in loaded.statuses.items() if s >= 500)
        rows.append(Row("status page under load: 64 clients for 60 s while 1,000 monitors are checked", loaded.per_second, "req/s",
                        [Check("errors", "<=", 0, server_errors), Check("p95", "<=", 100, p95, "ms")],
                        idle.per_second, "same load, nothing checked", loaded.per_second / idle.per_second,
                        f"p95 {p95:.1f} ms (idle {idle_p95:.1f} ms), errors {loaded.errors}, statuses {loaded.statuses}, "
                        f"{checked_during:,} checks stored meanwhile"))
        results["status_page"] = {"rps": loaded.per_second, "p95_ms": p95, "errors": loaded.errors, "idle_rps": idle.per_second,
                                  "idle_p95_ms": idle_p95, "checks_during": checked_during}

        total = 10_000
        progress(f"adding monitors up to {total:,} every 60 s")
        _make_monitors(total - 1000, url, first=1000)
        time.sleep(INTERVAL + 15)  # warm-up round: the new monitors go unknown -> up
        minutes = 2 if QUICK else 10
        progress(f"steady state for {minutes} minutes: sampling lag, overdue monitors, queue depth, CPU, memory, sizes")
        sampler = Sampler({"beat": psutil.Process(beat.pid), "worker-a": psutil.Process(workers[0].pid),
                           "worker-b": psutil.Process(workers[1].pid), "web": psutil.Process(web.pid), "target": psutil.Process(target.pid)})
        sampler.start()
        from django.utils import timezone

        sizes_before, window_start = _sizes(), time.monotonic()
        # The window is a whole number of intervals, so every monitor has exactly `minutes` slots in it:
        # keeping up means every one of those checks is stored (counted by slot once the window's last
        # results have had time to land), not a rate that jitters around the demand at the window's edges.
        slots_from = timezone.now()
        slots_to = slots_from + timedelta(seconds=minutes * 60)
        lags: list[float] = []
        overdue: list[int] = []
        depth: list[int] = []
        deadline = window_start + minutes * 60
        while time.monotonic() < deadline:
            time.sleep(15)
            lags += _lags()
            overdue.append(_overdue())
            depth.append(_queue_depth())
            progress(f"lag p99 {percentile(lags, 0.99):.1f}s, overdue {overdue[-1]}, queue {depth[-1]}")
        elapsed = time.monotonic() - window_start
        sizes_after = _sizes()
        usage = sampler.stop()
        time.sleep(max(0.0, (slots_to - timezone.now()).total_seconds() + 15))  # the last slots' results land (lag p99 ~1 s)
        stored = CheckResult.objects.filter(at__gte=slots_from, at__lt=slots_to).count()
        due = total * minutes

        from monitors import rollups
        from monitors.models import Rollup

        progress("timing one rollup refresh (what beat runs every minute) at 10,000 monitors")
        refresh_started = time.monotonic()
        rollups.refresh_recent(now=timezone.now())
        refresh_seconds = time.monotonic() - refresh_started
        rollup_rows_per_day = Monitor.objects.count() * 25  # 24 hour rows and one day row per monitor
        rollup_row_bytes = sizes_after["rollups"] / max(1, Rollup.objects.count())
    finally:
        for process in reversed(started):
            _stop(process)

    per_second = stored / (minutes * 60)
    growth_per_day = {name: (sizes_after[name] - sizes_before[name]) / elapsed * 86400 for name in sizes_after}
    lag_p99, lag_p50 = percentile(lags, 0.99), median(lags)
    base_p99 = percentile(lags_1k, 0.99)
    rows.append(Row("full system, 10,000 monitors x 60 s: check lag p99 (slot due -> result stored)", lag_p99, "s",
                    [figure_check("<=", 10, lag_p99, "s")], base_p99, "the same at 1,000 monitors", lag_p99 / base_p99 if base_p99 else None,
                    f"p50 {lag_p50:.2f} s; overdue monitors max {max(overdue, default=0)}; queue depth max {max(depth, default=0)}"))
    rows.append(Row("full system, 10,000 monitors x 60 s: checks stored per second", per_second, "checks/s",
                    [ratio_check(">=", 1.0, stored / due)], total / INTERVAL, "the schedule's demand (10,000 / 60 s)", stored / due,
                    f"{stored:,} of the {due:,} checks due in the {minutes} minutes stored (counted by slot); ratio is stored over due"))
    rows.append(Row("full system, 10,000 monitors x 60 s: database growth per day (extrapolated)", growth_per_day["database"] / 2**30, "GiB/day",
                    [], growth_per_day["results"] / 2**30, "raw results alone", None,
                    f"results {growth_per_day['results'] / 2**30:.2f} GiB/day; rollups grew {growth_per_day['rollups'] / 2**20:.0f} MiB/day "
                    f"in the window, mostly dead row versions of the current hour rewritten every minute (new rows: "
                    f"{rollup_rows_per_day * rollup_row_bytes / 2**20:.0f} MiB/day); raw rows are kept 30 days; "
                    f"one rollup refresh took {refresh_seconds:.1f} s"))
    results["full_system"] = {"monitors": total, "minutes": minutes, "lag_p50_s": lag_p50, "lag_p99_s": lag_p99, "lag_p99_1k_s": base_p99,
                              "checks_per_second": per_second, "rollup_refresh_s": refresh_seconds,
                              "rollup_new_rows_bytes_per_day": rollup_rows_per_day * rollup_row_bytes, "overdue_max": max(overdue, default=0), "queue_depth_max": max(depth, default=0),
                              "growth_per_day_bytes": growth_per_day, "processes": usage}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "system-detail.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results["full_system"]["processes"], indent=2))
    return rows
