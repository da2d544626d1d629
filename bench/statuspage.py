"""Status page benchmarks, each with a peer or baseline measured in the same run:
- requests/s for the status page and summary.json (gzip, 64 connections, wrk) on the `make run`
  server vs nginx serving the same files with docs/deployment.md's configuration (target
  >= 0.25x, floor 0.1x), and the page behind that nginx vs nginx serving one plain file
  (target >= 0.9x);
- the uncached rebuild of a page with 50 components x 90 days of rollups (reported),
  vs rendering the page straight from the database on every request (what the
  snapshot saves each visitor).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bench.engine import _free_port, _start, _stop, _wait_for_port
from bench.harness import QUICK, Check, Row, median, not_measured, progress, ratio_check, setup_django


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
    return Row("status page rebuild, 50 components x 90 days (all documents)", build_ms, "ms", [], render_ms,
               "one page render from the database per request", build_ms / render_ms if render_ms else None,
               f"a warm request costs {served_ms:.2f} ms in-process (vs {render_ms:.0f} ms rendered per request without the snapshot)")


def requests_per_second() -> list[Row]:
    """The `make run` server (the Procfile's web line) against nginx serving the same files with
    the configuration docs/deployment.md gives, both loaded by wrk, interleaved in one run."""
    from bench import peers
    from statuspage.snapshot import public_dir
    from statuspage.tasks import rebuild_all

    rebuild_all()
    seconds = 5 if QUICK else 15
    names = [("status page /status/ (gzip)", "/status/"), ("status API /api/v2/summary.json (gzip)", "/api/v2/summary.json")]
    missing = [tool for tool, path in (("nginx", peers.NGINX), ("wrk", peers.WRK)) if path is None]
    if missing:
        why = f"{' and '.join(missing)} not installed (make bench-peers)"
        return [not_measured(f"{name}: make run server vs nginx, same bytes", "req/s", [ratio_check(">=", 0.25, None)], why)
                for name, _path in names] + [
            not_measured("status page behind the documented nginx vs nginx serving the file", "req/s", [ratio_check(">=", 0.9, None)], why)]
    vigil_port, nginx_port = _free_port(), _free_port()
    server = _start(peers.procfile_web_args(vigil_port))
    # The same gzip bytes as a plain file, for the "behind nginx" row's peer.
    plain = public_dir().parent / "bench-plain"
    plain.mkdir(exist_ok=True)
    (plain / "page.gz").write_bytes((public_dir() / "status" / "index.html.gz").read_bytes())
    body = peers.documented_nginx_block(public_dir(), f"127.0.0.1:{vigil_port}") + (
        f"\nlocation = /plain/page {{ alias {plain}/page.gz; default_type text/html; add_header Content-Encoding gzip; }}\n")
    nginx = peers.start_nginx(nginx_port, body)
    assert nginx is not None
    browser = {"Accept-Encoding": "gzip"}
    rows = []
    try:
        _wait_for_port(vigil_port)
        _wait_for_port(nginx_port)
        peers.wrk(f"http://127.0.0.1:{vigil_port}/status/", seconds=2, headers=browser)  # warm up
        for name, path in names:
            progress(f"{name}: nginx (documented config) and the make run server, 64 connections, {seconds}s each")
            peer = peers.wrk(f"http://127.0.0.1:{nginx_port}{path}", seconds=seconds, headers=browser)
            ours = peers.wrk(f"http://127.0.0.1:{vigil_port}{path}", seconds=seconds, headers=browser)
            if peer is None or ours is None:
                rows.append(not_measured(f"{name}: make run server vs nginx, same bytes", "req/s", [ratio_check(">=", 0.25, None)],
                                         "wrk printed no figure"))
                continue
            ratio = ours.per_second / peer.per_second if peer.per_second else None
            rows.append(Row(f"{name}: make run server vs nginx, same bytes", ours.per_second, "req/s",
                            [ratio_check(">=", 0.25, ratio), Check("errors", "<=", 0, ours.errors)], peer.per_second,
                            "nginx serving the files", ratio,
                            f"p99 {ours.p99_ms:.1f} ms (nginx {peer.p99_ms:.1f} ms); floor 0.1x; errors {ours.errors}"))
        progress(f"status page behind the documented nginx vs nginx serving a plain file, {seconds}s each")
        plain_file = peers.wrk(f"http://127.0.0.1:{nginx_port}/plain/page", seconds=seconds, headers=browser)
        behind = peers.wrk(f"http://127.0.0.1:{nginx_port}/status/", seconds=seconds, headers=browser)
        if plain_file is None or behind is None:
            rows.append(not_measured("status page behind the documented nginx vs nginx serving the file", "req/s",
                                     [ratio_check(">=", 0.9, None)], "wrk printed no figure"))
        else:
            ratio = behind.per_second / plain_file.per_second if plain_file.per_second else None
            rows.append(Row("status page behind the documented nginx vs nginx serving the file", behind.per_second, "req/s",
                            [ratio_check(">=", 0.9, ratio)], plain_file.per_second, "nginx, one plain file", ratio,
                            f"p99 {behind.p99_ms:.1f} ms"))
    finally:
        _stop(server)
        nginx.terminate()
        nginx.wait(10)
    return rows


def run() -> list[Row]:
    setup_django()
    progress("making 50 components, 90 days of rollups, 30 incidents")
    _make_page()
    rows = [rebuild_time()]
    rows += requests_per_second()
    return rows
