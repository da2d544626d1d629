"""The monthly SLO report: figures equal the SLO pages', the CSV reads back with the same
numbers, months are validated, the command writes files, and the mail goes once."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import services as incident_services
from incidents.models import Component
from lib import slo as maths
from monitors import availability, rollups
from monitors.models import CheckResult, Monitor, Region
from slo import reports, services
from slo.models import SLO, ReportMailing, ReportSubscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def october(responder):
    api = Component.objects.create(name="API")
    monitor = Monitor.objects.create(name="api-health", kind="tcp", target="127.0.0.1:1", component=api)
    region = Region.objects.get(name="default")
    start = datetime(2026, 10, 1, tzinfo=UTC)
    rows, at, index = [], start, 0
    while at < datetime(2026, 11, 1, tzinfo=UTC):
        rows.append(CheckResult(monitor=monitor, at=at, region=region, outcome=2 if index % 500 == 7 else 0, latency_ms=80))
        at += timedelta(minutes=10)
        index += 1
    CheckResult.objects.bulk_create(rows, batch_size=5000)
    hour = start
    while hour < datetime(2026, 11, 1, tzinfo=UTC):
        rollups.rollup_hour(hour)
        hour += timedelta(hours=1)
    for day in range(31):
        rollups.rollup_day(start + timedelta(days=day))
    incident = incident_services.incident_open(title="API errors", impact="major", message="m", components={api.pk: "partial_outage"},
                                               by=responder, now=datetime(2026, 10, 10, 8, tzinfo=UTC))
    incident_services.incident_post_update(incident_id=incident.pk, expected_version=None, status="identified", message="i",
                                           by=responder, now=datetime(2026, 10, 10, 8, 12, tzinfo=UTC))
    incident_services.incident_post_update(incident_id=incident.pk, expected_version=None, status="resolved", message="r",
                                           by=responder, now=datetime(2026, 10, 10, 9, 0, tzinfo=UTC))
    slo = SLO.objects.create(name="API availability", component=api, objective=99.9, window="calendar_month")
    slo.monitors.set([monitor])
    return slo, rows


def test_the_report_matches_the_slo_figures_and_the_raw_rows(october):
    slo, rows = october
    [report] = reports.month_report(2026, 10, now=datetime(2026, 11, 2, tzinfo=UTC))
    good = sum(1 for r in rows if r.outcome == 0)
    assert (report.good, report.valid) == (good, len(rows))
    assert report.achieved == pytest.approx(100 * good / len(rows), abs=1e-9)
    assert report.met is False  # 9 failures in 4,464 checks: 99.80% < 99.9%
    assert report.budget_minutes == pytest.approx(0.001 * 31 * 24 * 60)
    # The SLO page at the end of the month shows the same figures.
    figures = services.evaluate(slo, now=datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC))
    assert figures["counts"].valid == report.valid and figures["budget"].sli * 100 == pytest.approx(report.achieved)
    assert report.incidents == 1 and report.by_severity == {"SEV-2": 1}
    assert report.mtta_minutes == pytest.approx(12) and report.mttr_minutes == pytest.approx(60)
    assert report.top_failing == [("api-health", len(rows) - good)]
    assert report.previous_achieved is None


def test_the_csv_reads_back_with_the_same_numbers(client, viewer, october):
    client.force_login(viewer)
    response = client.get("/reports/slo/2026-10/report.csv")
    assert response["Content-Disposition"] == 'attachment; filename="slo-report-2026-10.csv"'
    [row] = list(csv.DictReader(io.StringIO(response.content.decode())))
    [report] = reports.month_report(2026, 10, now=datetime(2026, 11, 2, tzinfo=UTC))
    assert float(row["achieved"]) == pytest.approx(report.achieved) and row["met"] == "False"
    assert int(row["valid"]) == report.valid and float(row["downtime_minutes"]) == pytest.approx(report.downtime_minutes)
    # Figures as a person writes them: no float noise, at most 4 decimals.
    assert row["objective"] == "99.9"
    decimals = [value.split(".")[1] for value in row.values() if "." in value and value.replace(".", "").isdigit()]
    assert decimals and all(len(part) <= 4 for part in decimals), row
    payload = json.loads(client.get("/reports/slo/2026-10/report.json").content)
    assert payload["month"] == "2026-10" and payload["services"][0]["valid"] == report.valid
    html = client.get("/reports/slo/2026-10/").content.decode()
    assert "SLO report, October 2026" in html and "<strong>missed</strong>" in html and "css/report.css" in html
    assert client.get("/reports/slo/2026-13/").status_code == 404


def test_the_command_prints_and_writes_files(october, tmp_path, capsys):
    call_command("slo_report", "2026-10", "--out", str(tmp_path))
    out = capsys.readouterr().out
    assert "API availability" in out and "MISSED" in out
    assert {p.name for p in tmp_path.iterdir()} == {"slo-report-2026-10.html", "slo-report-2026-10.csv", "slo-report-2026-10.json"}
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("slo_report", "October")


def test_the_report_is_mailed_once_on_the_first(october, viewer):
    viewer.email = "manager@example.com"
    viewer.save()
    ReportSubscription.objects.create(user=viewer)
    with time_machine.travel(datetime(2026, 11, 1, 6, tzinfo=UTC), tick=False):
        assert reports.mail_last_month(now=datetime(2026, 11, 1, 6, tzinfo=UTC)) == 1
        assert reports.mail_last_month(now=datetime(2026, 11, 1, 7, tzinfo=UTC)) == 0  # beat restarted: no second mail
    [message] = mail.outbox
    assert message.subject == "SLO report 2026-10" and message.to == ["manager@example.com"]
    assert message.attachments[0][0] == "slo-report-2026-10.csv"
    assert ReportMailing.objects.get(month="2026-10").recipients == 1
    assert reports.mail_last_month(now=datetime(2026, 11, 15, tzinfo=UTC)) == 0  # mid-month: nothing


def test_the_current_month_is_reported_to_date_and_equals_the_slo_page(october, client, viewer, tmp_path, capsys):
    """Mid-month, the report shows the month so far (and says so), not "no data"."""
    slo, rows = october
    moment = datetime(2026, 10, 17, 9, 30, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        [report] = reports.month_report(2026, 10, now=moment)
        figures = services.evaluate(slo, now=moment)
        client.force_login(viewer)
        html = client.get("/reports/slo/2026-10/").content.decode()
        [row] = list(csv.DictReader(io.StringIO(client.get("/reports/slo/2026-10/report.csv").content.decode())))
        call_command("slo_report", "2026-10", "--out", str(tmp_path))
    so_far = [r for r in rows if r.at <= moment]
    assert report.month_to_date and report.until == moment
    assert (report.good, report.valid) == (figures["counts"].good, figures["counts"].valid) == \
        (sum(r.outcome == 0 for r in so_far), len(so_far))
    assert report.achieved == pytest.approx(100 * figures["budget"].sli)
    assert report.spent_minutes == pytest.approx(figures["budget"].spent_minutes)
    assert report.budget_spent_percent == pytest.approx(100 * figures["budget"].spent_ratio)
    assert "Month to date:" in html and "Oct 17, 09:30" in html
    assert row["month_to_date"] == "True" and int(row["valid"]) == report.valid
    assert (tmp_path / "slo-report-2026-10.html").read_text().count("Month to date") == 1
    # A finished month says nothing of the kind.
    [finished] = reports.month_report(2026, 10, now=datetime(2026, 11, 2, tzinfo=UTC))
    assert not finished.month_to_date and finished.valid == len(rows)


def test_a_raw_tail_of_many_hours_is_read_in_a_few_queries_and_counted_exactly(django_assert_max_num_queries):
    """Before the rollup job has run (a fresh install, or beat stopped for a day), the tail of
    raw rows spans up to CATCH_UP_HOURS: it is read one query a span, grouped by hour (it was
    one query an hour per monitor set: a 20-SLO report took a minute)."""
    now = datetime(2026, 12, 3, 11, 30, tzinfo=UTC)
    region = Region.objects.get(name="default")
    slos, expected = [], {}
    for index in range(5):
        component = Component.objects.create(name=f"Service {index}")
        monitor = Monitor.objects.create(name=f"check-{index}", kind="tcp", target="127.0.0.1:1", component=component)
        rows = [CheckResult(monitor=monitor, at=now - timedelta(minutes=7 * step), region=region,
                            outcome=2 if step % (index + 3) == 0 else 0, latency_ms=50 + step) for step in range(1, 400)]
        CheckResult.objects.bulk_create(rows)
        slo = SLO.objects.create(name=f"Availability {index}", component=component, objective=99.9, window="calendar_month")
        slo.monitors.set([monitor])
        slos.append(slo)
        in_month = [row for row in rows if row.at >= datetime(2026, 12, 1, tzinfo=UTC)]
        expected[slo.name] = (sum(1 for row in in_month if row.outcome == 0), len(in_month))
    with django_assert_max_num_queries(120):
        found = reports.month_report(2026, 12, now=now)
    assert {report.slo: (report.good, report.valid) for report in found} == expected


def test_a_report_of_many_slos_reads_them_together_with_the_figures_of_each_read_alone(responder):
    """The report reads each window once for the monitors of every SLO that shares it (SLOs of
    one time zone share their months), not once per SLO (10 SLOs of 100 monitors took 0.5-0.7 s
    that way, three reads per SLO): its queries do not grow with the SLOs, and each SLO's
    figures equal that SLO's read alone (shared monitors, time zones, latency, raw tail)."""
    now = datetime(2026, 10, 17, 9, 30, tzinfo=UTC)
    region = Region.objects.get(name="default")
    components = [Component.objects.create(name=f"Service {index}") for index in range(3)]
    monitors = [Monitor.objects.create(name=f"m-{index}", kind="tcp", target="127.0.0.1:1", component=components[index % 3])
                for index in range(6)]
    rows = []
    for index, monitor in enumerate(monitors):
        at, step = datetime(2026, 9, 28, tzinfo=UTC) + timedelta(minutes=index), 0
        while at <= now:
            rows.append(CheckResult(monitor=monitor, at=at, region=region, outcome=2 if step % (index + 5) == 0 else 0,
                                    latency_ms=40 + 300 * (step % 4)))
            at, step = at + timedelta(minutes=41), step + 1
    CheckResult.objects.bulk_create(rows, batch_size=5000)
    # Days rolled up to Oct 14, hours to Oct 16 noon, the rest is read raw.
    hour = datetime(2026, 9, 28, tzinfo=UTC)
    while hour < datetime(2026, 10, 16, 12, tzinfo=UTC):
        rollups.rollup_hour(hour)
        hour += timedelta(hours=1)
    for day in range(17):
        rollups.rollup_day(datetime(2026, 9, 28, tzinfo=UTC) + timedelta(days=day))
    incident_services.incident_open(title="API errors", impact="major", message="m", components={components[0].pk: "major_outage"},
                                    by=responder, now=datetime(2026, 10, 3, 8, tzinfo=UTC))
    plans = [("A", components[0], [0, 3], "UTC", {}), ("B", components[1], [1, 4, 0], "America/New_York", {}),
             ("C", components[2], [2, 5], "Europe/Berlin", {"kind": "latency", "latency_threshold_ms": 300}),
             ("D", None, [], "UTC", {}), ("E", components[0], [3, 1], "UTC", {"exclude_maintenance": False})]
    for name, component, ids, zone, extra in plans:
        SLO.objects.create(name=name, component=component, objective=99.0, window="calendar_month", time_zone=zone,
                           **extra).monitors.set([monitors[i] for i in ids])
    with CaptureQueriesContext(connection) as few:
        found = reports.month_report(2026, 10, now=now)
    slos = list(SLO.objects.select_related("component").order_by("name"))
    assert found == [reports.service_report(slo, 2026, 10, now=now) for slo in slos]
    for report, slo in zip(found, slos, strict=True):
        zone = ZoneInfo(slo.time_zone)
        start, _end = maths.month_of(2026, 10, zone)
        counts = services.counts_between(slo, start, now + timedelta(microseconds=1), now=now)
        assert (report.good, report.valid) == (counts.good, counts.valid), slo.name
        before = services.counts_between(slo, *maths.month_of(2026, 9, zone), now=now)
        assert report.previous_achieved == (100.0 * maths.sli(before) if before.valid else None), slo.name
        ids = list(slo.monitors.values_list("pk", flat=True))
        failing = availability.figures_by_monitor(ids, start, now + timedelta(microseconds=1), now=now)
        names = dict(Monitor.objects.values_list("pk", "name"))
        top = sorted(((names[pk], f.down) for pk, f in failing.items() if f.down), key=lambda r: (-r[1], r[0]))
        assert report.top_failing == top[:5], slo.name
    assert [r.incidents for r in found] == [1, 0, 0, 0, 1]
    assert found[2].valid and found[2].good < found[2].valid  # the latency SLO counts checks under 300 ms
    for index in range(8):
        SLO.objects.create(name=f"F{index}", component=components[1], objective=99.0,
                           window="calendar_month").monitors.set(monitors[index % 6:])
    with CaptureQueriesContext(connection) as more:
        assert len(reports.month_report(2026, 10, now=now)) == 13
    assert len(more) == len(few), [q["sql"][:120] for q in more]
