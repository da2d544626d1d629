"""Status page snapshots: rebuilt on change, served with zero queries, up when the database is down."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from core import events
from incidents import services as incident_services
from incidents.models import Component
from monitors.models import Monitor, Rollup
from statuspage import snapshot
from statuspage.models import StatusPage, StatusSnapshot
from statuspage.tasks import REBUILD_PENDING_KEY, rebuild_all
from tests.processes import start_worker, wait_until


@pytest.fixture
def api(db) -> Component:
    return Component.objects.create(name="API", description="The public API")


def summary(client) -> dict:
    response = client.get("/api/v2/summary.json")
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.mark.django_db
def test_a_change_asks_for_a_rebuild_and_the_rebuild_shows_it(client, responder, api, django_capture_on_commit_callbacks):
    from core.redis_client import get_redis

    rebuild_all()
    assert summary(client)["status"]["indicator"] == "none"
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.incident_open(title="Checkout errors", impact="major", message="Looking into it",
                                        components={api.pk: "partial_outage"}, by=responder, now=timezone.now())
        events.drain(now=timezone.now())  # what the consumer task does once the change committed
    # The change queued one debounced rebuild task...
    assert get_redis().get(REBUILD_PENDING_KEY) == b"1"
    # ... and until it runs, the page still serves the last snapshot (nothing on the request path).
    snapshot._memory.clear()
    assert summary(client)["status"]["indicator"] == "none"
    rebuild_all()
    body = summary(client)
    assert body["status"] == {"indicator": "major", "description": "Partial System Outage"}
    assert [i["name"] for i in body["incidents"]] == ["Checkout errors"]
    assert "Checkout errors" in client.get("/status/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_rebuilds_the_page_within_seconds_of_an_update(client, tmp_path):
    from django.contrib.auth import get_user_model

    StatusPage.objects.get_or_create(slug="public", defaults={"title": "Status", "is_default": True})
    api = Component.objects.create(name="API")
    user = get_user_model().objects.create_user("ic", password="a-long-test-password")
    rebuild_all()
    worker = start_worker(tmp_path, queues="vigil")
    try:
        incident_services.incident_open(title="Login failures", impact="critical", message="Investigating",
                                        components={api.pk: "major_outage"}, by=user, now=timezone.now())

        def shows_it() -> bool:
            snapshot._memory.clear()
            return summary(client)["status"]["indicator"] == "critical"

        wait_until(shows_it, 30, f"the worker did not rebuild the page:\n{worker.output()[-3000:]}")
    finally:
        worker.stop()


@pytest.mark.django_db
def test_a_warm_page_is_served_with_zero_queries(client, api, django_assert_num_queries):
    rebuild_all()
    urls = ["/status/", "/status/public/", "/status/live/", "/status/history/", "/api/v2/summary.json",
            "/status/public/api/v2/components.json", "/status/history.rss", "/status/history.atom",
            "/status/calendar.ics", f"/status/badges/{api.pk}.svg", "/status/theme.css"]
    for url in urls:
        client.get(url)  # warm the process memory too
    snapshot._memory.clear()  # the cache, not process memory, must be enough
    with django_assert_num_queries(0):
        for url in urls:
            assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_responses_carry_etag_last_modified_and_cache_control(client, api):
    rebuild_all()
    response = client.get("/status/")
    assert response["Cache-Control"].startswith("public, max-age=")
    assert response["Last-Modified"].endswith("GMT")
    again = client.get("/status/", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and again.content == b""
    api_response = client.get("/api/v2/status.json")
    assert client.get("/api/v2/status.json", HTTP_IF_NONE_MATCH=api_response["ETag"]).status_code == 304


@pytest.mark.django_db
def test_a_page_with_no_snapshot_is_built_on_first_request(client, api):
    assert not StatusSnapshot.objects.exists()
    assert client.get("/status/").status_code == 200
    assert StatusSnapshot.objects.filter(page__slug="public").exists()


@pytest.mark.django_db
def test_the_cache_flushed_falls_back_to_the_file_then_the_row(client, api, django_assert_num_queries):
    rebuild_all()
    cache.clear()
    snapshot._memory.clear()
    with django_assert_num_queries(0):  # the file
        assert "API" in client.get("/status/").content.decode()
    (snapshot.snapshot_dir() / "public.json").unlink()
    snapshot._files.clear()
    snapshot._memory.clear()
    assert "API" in client.get("/status/").content.decode()  # the database row


@pytest.mark.django_db
def test_an_old_snapshot_says_when_it_was_taken(client, api):
    long_ago = timezone.now() - timedelta(minutes=20)
    snapshot.publish_routes()
    snapshot.rebuild(StatusPage.objects.get(slug="public"), now=long_ago)
    html = client.get("/status/").content.decode()
    assert "stale-note" in html and "live updates are delayed" in html
    assert client.get("/status/")["Cache-Control"] == "no-cache"


@pytest.mark.django_db(transaction=True)
def test_the_page_answers_from_the_last_good_copy_while_the_database_is_down(client, settings):
    StatusPage.objects.get_or_create(slug="public", defaults={"title": "Status", "is_default": True})
    Component.objects.create(name="Payments")
    rebuild_all()
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict["PORT"] = "1"  # connection refused
    else:
        connection.settings_dict["NAME"] = "/nonexistent/vigil.sqlite3"
    # Redis lost its keys too (restarted without persistence): only the file is left.
    cache.clear()
    snapshot._memory.clear()
    try:
        with pytest.raises(Exception):
            connection.ensure_connection()
        for url in ["/status/", "/api/v2/summary.json", "/status/history/"]:
            response = client.get(url)
            assert response.status_code == 200, url
        assert "Payments" in client.get("/status/").content.decode()
        health = client.get("/health")
        assert health.status_code == 503
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.django_db
def test_uptime_bars_come_from_day_rollups_and_show_no_data_without_checks(client):
    now = timezone.now()
    component = Component.objects.create(name="Search")
    Component.objects.filter(pk=component.pk).update(created_at=now - timedelta(days=10))
    monitor = Monitor.objects.create(name="search", kind="http", target="http://127.0.0.1:9/", component=component)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)
    Rollup.objects.create(monitor=monitor, period="day", start=day, total=1000, ok=990, degraded=0)
    rebuild_all()
    html = client.get("/status/").content.decode()
    assert f"{day:%b} {day.day}, {day:%Y}</b> 99.00% uptime" in html
    assert "No data" in html  # the 79 days before the component existed, and its days without checks
    bar = html[html.index('id="component-'):]
    assert bar.count('class="bar level-none"') == 89  # one day with checks; a monitored day without any is no data


@pytest.mark.django_db
def test_a_rebuild_takes_about_the_same_time_for_many_components(client):
    """50 components x 90 days stays a sub-second build (the bench reports the figure)."""
    now = timezone.now()
    for index in range(50):
        Component.objects.create(name=f"component-{index}")
    started = time.monotonic()
    docs = snapshot.rebuild(StatusPage.objects.get(slug="public"), now=now)
    assert len([name for name in docs if name.startswith("badges/")]) == 50
    assert time.monotonic() - started < 30  # generous: correctness, not timing


@pytest.mark.django_db
def test_public_documents_keep_the_security_headers_and_come_gzipped_to_browsers(client, api):
    import gzip

    rebuild_all()
    response = client.get("/status/", HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert response["Content-Encoding"] == "gzip"
    assert "API" in gzip.decompress(response.content).decode()
    assert "script-src 'self'" in response["Content-Security-Policy"] and "unsafe-inline" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Accept-Encoding" in response["Vary"]
    plain = client.get("/status/")
    assert "Content-Encoding" not in plain and plain["ETag"] != response["ETag"]
    assert int(plain["Content-Length"]) == len(plain.content)
