"""Status page benchmarks (issue 6), each with a baseline measured in the same run:
- requests/s and p95 for the status page at 64 concurrent clients vs the same server
  handing out a static file through whitenoise (target ratio >= 0.7, p95 <= 50 ms);
- the uncached rebuild of a page with 50 components x 90 days of rollups (reported),
  vs rendering the page straight from the database on every request (what the
  snapshot saves each visitor).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from bench.engine import BIN, _free_port, _start, _stop, _wait_for_port
from bench.harness import QUICK, Row, median, percentile, progress, setup_django


def _make_page(components: int = 50, days: int = 90) -> None:
    from django.contrib.auth import get_user_model

    from incidents import services as incident_services
    from incidents.models import Component
    from monitors.models import Monitor, Rollup
    from statuspage.models import StatusPage

    now = datetime.now(UTC)
    created = now - timedelta(days=days + 5)
    made = Component.objects.bulk_create([Component(name=f"Service {i:02d}") for i in range(components)])
    Component.objects.update(created_at=created)
    monitors = Monitor.objects.bulk_create([Monitor(name=f"check-{c.pk}", kind="http", target="http://127.0.0.1:9/", component=c) for c in made])
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rollups = [Rollup(monitor=m, period="day", start=today - timedelta(days=d), total=1440, ok=1440 - (d * m.pk) % 7, degraded=0)
               for m in monitors for d in range(days)]
    Rollup.objects.bulk_create(rollups, batch_size=2000)
    user = get_user_model().objects.create_user("bench", password="a-long-bench-password")
    for index in range(30):
        component = made[index % components]
        started = now - timedelta(days=index * 3 + 1, hours=2)
        incident = incident_services.incident_open(title=f"Incident {index}", impact="major", message="Investigating",
                                                   components={component.pk: "partial_outage"}, by=user, now=started)
        incident_services.incident_post_update(incident_id=incident.pk, expected_version=None, status="resolved",
                                               message="Resolved", by=user, now=started + timedelta(hours=1))
    StatusPage.objects.filter(is_default=True).update(title="Bench status")


def rebuild_time() -> Row:
    from django.test import Client

    from statuspage.models import StatusPage
    from statuspage.snapshot import build_documents, publish_routes

    page = StatusPage.objects.get(is_default=True)
    publish_routes()
    rounds = 3 if QUICK else 7
    progress(f"rebuilding 50 components x 90 days, {rounds} times")
    builds = []
    for _ in range(rounds):
        started = time.perf_counter()
        build_documents(page, now=datetime.now(UTC))
        builds.append(time.perf_counter() - started)
    build_ms = median(builds) * 1000
    # Baseline: without snapshots every visitor pays for one HTML render from the database.
    from django.template.loader import render_to_string

    from statuspage.snapshot import build_context

    renders = []
    for _ in range(rounds):
        started = time.perf_counter()
        context = build_context(page, now=datetime.now(UTC))
        render_to_string("statuspage/fragments/live.html", context)
        renders.append(time.perf_counter() - started)
    render_ms = median(renders) * 1000
    client = Client()
    client.get("/status/")
    served = []
    for _ in range(200):
        started = time.perf_counter()
        client.get("/status/")
        served.append(time.perf_counter() - started)
    served_ms = median(served) * 1000
    return Row("status page rebuild, 50 components x 90 days (all documents)", build_ms, "ms", "reported", render_ms,
               "one page render from the database per request", build_ms / render_ms if render_ms else None, True,
               f"a warm request costs {served_ms:.2f} ms in-process (vs {render_ms:.0f} ms rendered per request without the snapshot)")


def requests_per_second() -> list[Row]:
    from django.core.management import call_command

    from bench.load_client import run_load
    from statuspage.tasks import rebuild_all

    call_command("collectstatic", "--noinput", verbosity=0)
    rebuild_all()
    port = _free_port()
    # One worker process per core, threads for the keep-alive connections (docs/deployment.md).
    workers = str(os.cpu_count() or 2)
    server = _start([str(BIN / "gunicorn"), "portal.wsgi:application", "-b", f"127.0.0.1:{port}", "-k", "gthread", "--workers", workers,
                     "--threads", "16", "--keep-alive", "30", "--log-level", "warning"])
    try:
        _wait_for_port(port)
        seconds = 8 if QUICK else 20
        run_load("127.0.0.1", port, ["/static/css/status.css", "/status/"], connections=8, seconds=2)  # warm up
        progress(f"baseline: static file through whitenoise, 64 clients, {seconds}s")
        browser = {"Accept-Encoding": "gzip, deflate, br"}  # every client asks for compression, as browsers do
        static = run_load("127.0.0.1", port, ["/static/css/status.css"], connections=64, seconds=seconds, headers=browser)
        progress(f"status page, 64 clients, {seconds}s")
        page = run_load("127.0.0.1", port, ["/status/"], connections=64, seconds=seconds, headers=browser)
        progress(f"status API summary.json, 64 clients, {seconds}s")
        api = run_load("127.0.0.1", port, ["/api/v2/summary.json"], connections=64, seconds=seconds, headers=browser)
    finally:
        _stop(server)
    rows = []
    for name, result in [(f"status page /status/ (gunicorn gthread {workers}x16, 64 clients)", page),
                         ("status API /api/v2/summary.json (64 clients)", api)]:
        ratio = result.per_second / static.per_second if static.per_second else 0.0
        p95 = percentile(result.latencies, 0.95) * 1000
        rows.append(Row(name, result.per_second, "req/s", ">= 0.7x static, p95 <= 50 ms", static.per_second,
                        "static file, same server", ratio, ratio >= 0.7 and p95 <= 50 and result.errors == 0,
                        f"p95 {p95:.1f} ms (static p95 {percentile(static.latencies, 0.95) * 1000:.1f} ms), errors {result.errors}, "
                        f"statuses {result.statuses}"))
    return rows


def run() -> list[Row]:
    setup_django()
    progress("making 50 components, 90 days of rollups, 30 incidents")
    _make_page()
    rows = [rebuild_time()]
    rows += requests_per_second()
    return rows
