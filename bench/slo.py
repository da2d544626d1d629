"""SLO benchmark (issue 8): the monthly report for 1,000 monitors x 30 days of 1-minute
checks, computed from rollups, against computing the same SLIs from raw rows.

Rollups are written with SQL (1,000 monitors x 720 hours + their days). The raw-row
baseline is measured on one day of raw rows (1.44 million) and multiplied by the days
of the month: inserting 43 million raw rows would take this machine most of an hour.
"""

from __future__ import annotations

import time

from bench.harness import QUICK, Row, figure_check, median, progress, setup_django

MONTH = (2026, 9)  # 30 days
MONITORS = 1000
SLOS = 10


def _make() -> None:
    from django.db import connection

    from incidents.models import Component
    from lib import latency_histogram
    from monitors.models import Monitor
    from slo.models import SLO

    components = Component.objects.bulk_create([Component(name=f"Service {i}") for i in range(SLOS)])
    monitors = Monitor.objects.bulk_create([Monitor(name=f"m-{i}", kind="tcp", target="127.0.0.1:1", component=components[i % SLOS])
                                            for i in range(MONITORS)])
    for index, component in enumerate(components):
        slo = SLO.objects.create(name=f"{component.name} availability", component=component, objective=99.9, window="calendar_month")
        slo.monitors.set([m for m in monitors if m.component_id == component.pk])
        del index
    histogram = latency_histogram.empty()
    histogram[11] = 60
    progress(f"writing {MONITORS * 720:,} hour rollups and {MONITORS * 30:,} day rollups with SQL")
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO monitors_rollup (monitor_id, period, start, total, ok, degraded, latency_sum_ms, latency_count, histogram,
                                         excluded_total, excluded_up)
            SELECT m.id, 'hour', ts, 60, 60 - (CASE WHEN (m.id * 7 + extract(epoch FROM ts)::bigint / 3600) %% 97 = 0 THEN 3 ELSE 0 END),
                   0, 60 * 120, 60, %s::jsonb, 0, 0
            FROM monitors_monitor m, generate_series('2026-09-01 00:00+00'::timestamptz, '2026-09-30 23:00+00', interval '1 hour') ts
        """, [str(histogram).replace(" ", "")])
        cursor.execute("""
            INSERT INTO monitors_rollup (monitor_id, period, start, total, ok, degraded, latency_sum_ms, latency_count, histogram,
                                         excluded_total, excluded_up)
            SELECT monitor_id, 'day', date_trunc('day', start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', sum(total), sum(ok), sum(degraded),
                   sum(latency_sum_ms), sum(latency_count), %s::jsonb, 0, 0
            FROM monitors_rollup WHERE period = 'hour' GROUP BY 1, 3
        """, [str([x * 24 for x in histogram]).replace(" ", "")])
        cursor.execute("ANALYZE monitors_rollup")


def report_time() -> Row:
    from django.db import connection
    from django.utils import timezone

    from slo import reports

    rounds = 3 if QUICK else 7
    progress(f"computing the September report from rollups, {rounds} times")
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        rows = reports.month_report(*MONTH, now=timezone.now())
        times.append(time.perf_counter() - started)
    figure = median(times) * 1000
    assert len(rows) == SLOS and all(r.valid == 100 * 720 * 60 for r in rows), [r.valid for r in rows]
    progress("baseline: one day of raw 1-minute rows (1.44 million), the same SLIs with SQL")
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO monitors_checkresult (at, monitor_id, latency_ms, region_id, outcome, status_code, message)
            SELECT ts, m.id, 120, 1, CASE WHEN (m.id + extract(epoch FROM ts)::bigint / 60) % 997 = 0 THEN 2 ELSE 0 END, NULL, ''
            FROM monitors_monitor m, generate_series('2026-09-15 00:00+00'::timestamptz, '2026-09-15 23:59+00', interval '1 minute') ts
        """)
        cursor.execute("ANALYZE monitors_checkresult")
        raw = []
        for _ in range(3):
            started = time.perf_counter()
            cursor.execute("""
                SELECT mo.component_id, count(*), count(*) FILTER (WHERE cr.outcome IN (0, 1))
                FROM monitors_checkresult cr JOIN monitors_monitor mo ON mo.id = cr.monitor_id
                WHERE cr.at >= '2026-09-15' AND cr.at < '2026-09-16' GROUP BY 1
            """)
            cursor.fetchall()
            raw.append(time.perf_counter() - started)
    baseline = median(raw) * 30 * 1000
    return Row("monthly SLO report, 1,000 monitors x 30 days of 1-minute checks", figure, "ms", [figure_check("<=", 500, figure, "ms")],
               baseline, "same SLIs from raw rows (1 day measured x 30)", baseline / figure if figure else None,
               f"{SLOS} SLOs x 100 monitors; raw day took {median(raw) * 1000:.0f} ms for 1.44 M rows")


def run() -> list[Row]:
    setup_django()
    _make()
    return [report_time()]
