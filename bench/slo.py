"""SLO benchmark (issue 8): the monthly report for 1,000 monitors x 30 days of 1-minute
checks, computed from rollups, against the same SLIs brute-forced from the raw rows.

The raw rows are the month itself (43.2 million 1-minute results, written with SQL into
monitors_checkresult), and the rollups (1,000 monitors x 720 hours + their days) summarise
exactly those rows, so both sides answer the same question over the same data; the bench
checks that their good and valid counts agree before it prints a ratio. The baseline is the
whole month measured, not a day multiplied: a brute force over raw rows is the honest peer of
a report from rollups (Prometheus evaluating recording rules would need the same 43 million
samples backfilled into its TSDB, which measures the backfill as much as the query).
"""

from __future__ import annotations

import time

from bench.harness import QUICK, Check, Row, figure_check, median, progress, setup_django

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
                                         excluded_total, excluded_up, value_count)
            SELECT m.id, 'hour', ts, 60, 60 - (CASE WHEN (m.id * 7 + extract(epoch FROM ts)::bigint / 3600) %% 97 = 0 THEN 3 ELSE 0 END),
                   0, 60 * 120, 60, %s::jsonb, 0, 0, 0
            FROM monitors_monitor m, generate_series('2026-09-01 00:00+00'::timestamptz, '2026-09-30 23:00+00', interval '1 hour') ts
        """, [str(histogram).replace(" ", "")])
        cursor.execute("""
            INSERT INTO monitors_rollup (monitor_id, period, start, total, ok, degraded, latency_sum_ms, latency_count, histogram,
                                         excluded_total, excluded_up, value_count)
            SELECT monitor_id, 'day', date_trunc('day', start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', sum(total), sum(ok), sum(degraded),
                   sum(latency_sum_ms), sum(latency_count), %s::jsonb, 0, 0, 0
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
    from monitors.models import Region

    progress("baseline: the same SLIs brute-forced from the month's 43.2 million raw rows")
    region = Region.objects.get(name="default").pk
    with connection.cursor() as cursor:
        started = time.perf_counter()
        for day in range(1, 31):
            # The rollups' pattern, minute by minute: in an hour where (id * 7 + hour) % 97 = 0 the first
            # three minutes are down; every other minute is up.
            cursor.execute("""
                INSERT INTO monitors_checkresult (at, monitor_id, latency_ms, region_id, outcome, status_code, message)
                SELECT ts, m.id, 120, %s, CASE WHEN (m.id * 7 + extract(epoch FROM ts)::bigint / 3600) %% 97 = 0
                                                AND extract(minute FROM ts) < 3 THEN 2 ELSE 0 END, NULL, ''
                FROM monitors_monitor m,
                     generate_series(%s::timestamptz, %s::timestamptz + interval '1 day' - interval '1 minute', interval '1 minute') ts
            """, [region, f"2026-09-{day:02d} 00:00+00", f"2026-09-{day:02d} 00:00+00"])
        cursor.execute("ANALYZE monitors_checkresult")
        inserted = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM monitors_checkresult")
        raw_rows = cursor.fetchone()[0]
        raw = []
        for _ in range(3):
            started = time.perf_counter()
            cursor.execute("""
                SELECT mo.component_id, count(*) FILTER (WHERE cr.outcome IN (0, 1)), count(*)
                FROM monitors_checkresult cr JOIN monitors_monitor mo ON mo.id = cr.monitor_id
                WHERE cr.at >= '2026-09-01' AND cr.at < '2026-10-01' GROUP BY 1
            """)
            brute = {component: (good, valid) for component, good, valid in cursor.fetchall()}
            raw.append(time.perf_counter() - started)
    report = sorted((row.good, row.valid) for row in rows)
    agree = sorted(brute.values()) == report
    baseline = median(raw) * 1000
    return Row("monthly SLO report, 1,000 monitors x 30 days of 1-minute checks", figure, "ms",
               [figure_check("<=", 500, figure, "ms"), Check("answers agree", ">=", 1, 1 if agree else 0)],
               baseline, "same SLIs brute-forced from the month's raw rows", baseline / figure if figure else None,
               f"{SLOS} SLOs x 100 monitors; brute force over {raw_rows:,} raw rows: {baseline:,.0f} ms (median of 3; inserting them "
               f"took {inserted:.0f} s); good/valid per SLO " + ("equal on both sides" if agree else f"DIFFER: report {report}, "
                                                                 f"raw {sorted(brute.values())}"))


def run() -> list[Row]:
    setup_django()
    _make()
    return [report_time()]
