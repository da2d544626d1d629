"""Revalidating the public status page: an ETag and Last-Modified that change only with the content,
If-Modified-Since honoured, a 304 without body headers, a Date header, and no access line per request."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta
from email.utils import formatdate

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from incidents.models import Component
from statuspage import snapshot
from statuspage.models import StatusPage
from tests.processes import start_procfile_web


def _rebuild(now) -> None:
    for page in StatusPage.objects.all():
        snapshot.rebuild(page, now=now)
    snapshot._memory.clear()


@pytest.fixture
def page(db) -> StatusPage:
    Component.objects.create(name="API")
    found, _ = StatusPage.objects.get_or_create(slug="public", defaults={"title": "Status", "is_default": True})
    return found


URLS = ["/status/", "/status/live/", "/status/history/", "/api/v2/summary.json", "/status/history.rss"]


@pytest.mark.django_db
def test_etag_and_last_modified_stay_the_same_across_rebuilds_without_a_change(client, page):
    first = timezone.now()
    _rebuild(first)
    before = {url: client.get(url, HTTP_ACCEPT_ENCODING="gzip") for url in URLS}
    _rebuild(first + timedelta(minutes=1, seconds=5))
    _rebuild(first + timedelta(minutes=2, seconds=10))
    for url in URLS:
        after = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
        assert after["ETag"] == before[url]["ETag"], url
        assert after["Last-Modified"] == before[url]["Last-Modified"], url
        assert after.content == before[url].content, url


@pytest.mark.django_db
def test_a_change_gives_a_new_etag_and_a_later_last_modified(client, page):
    first = timezone.now() - timedelta(minutes=5)
    _rebuild(first)
    before = client.get("/status/")
    Component.objects.filter(name="API").update(status="major_outage", status_changed_at=first + timedelta(minutes=2))
    _rebuild(first + timedelta(minutes=3))
    after = client.get("/status/")
    assert after["ETag"] != before["ETag"]
    assert after["Last-Modified"] == formatdate((first + timedelta(minutes=3)).timestamp(), usegmt=True)
    assert before["Last-Modified"] == formatdate(first.timestamp(), usegmt=True)


@pytest.mark.django_db
def test_last_updated_is_a_timestamp_the_browser_renders_and_reads_without_javascript(client, page):
    changed = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    StatusPage.objects.filter(pk=page.pk).update(updated_at=changed)
    Component.objects.update(status_changed_at=changed, created_at=changed)
    _rebuild(timezone.now())
    html = client.get("/status/").content.decode()
    stamp = changed.strftime("%b %-d, %Y %H:%M")
    assert f'data-local-time>{stamp} UTC</time>' in html  # the page's time zone, readable without JS
    assert f'<time datetime="{changed.isoformat()}" data-local-time>' in html


@pytest.mark.django_db
def test_if_modified_since_answers_304_and_if_none_match_takes_precedence(client, page):
    _rebuild(timezone.now() - timedelta(minutes=1))
    fresh = client.get("/status/")
    modified = fresh["Last-Modified"]
    assert client.get("/status/", HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
    later = formatdate(timezone.now().timestamp() + 60, usegmt=True)
    assert client.get("/api/v2/summary.json", HTTP_IF_MODIFIED_SINCE=later).status_code == 304
    earlier = formatdate(timezone.now().timestamp() - 3600, usegmt=True)
    assert client.get("/status/", HTTP_IF_MODIFIED_SINCE=earlier).status_code == 200
    # RFC 9110: when If-None-Match is sent, If-Modified-Since is ignored.
    assert client.get("/status/", HTTP_IF_NONE_MATCH='"other"', HTTP_IF_MODIFIED_SINCE=modified).status_code == 200
    assert client.get("/status/", HTTP_IF_MODIFIED_SINCE="not a date").status_code == 200


def _raw_get(url: str, path: str, headers: str = "", *, upgrade: bool = False) -> tuple[str, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        close = "" if upgrade else "Connection: close\r\n"
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{close}{headers}\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            if upgrade and b"\r\n\r\n" in data:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    return lines[0], {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}, body


@pytest.mark.django_db(transaction=True)
def test_the_make_run_server_sends_date_and_a_304_without_body_headers(tmp_path, page):
    _rebuild(timezone.now())
    web, url = start_procfile_web(tmp_path)
    try:
        status, headers, _body = _raw_get(url, "/status/")
        assert status.endswith("200 OK")
        assert "date" in headers and headers["date"].endswith("GMT")
        etag, modified = headers["etag"], headers["last-modified"]
        for condition in (f"If-None-Match: {etag}\r\n", f"If-Modified-Since: {modified}\r\n"):
            status, headers, body = _raw_get(url, "/status/", condition)
            assert status.endswith("304 Not Modified"), condition
            assert body == b""
            assert "content-length" not in headers and "content-type" not in headers, headers
            assert headers["etag"] == etag and "date" in headers
        # A private page answered through the full middleware chain: same rule.
        status, headers, _body = _raw_get(url, "/api/v2/status.json", f"If-None-Match: {etag}\r\n")
        assert status.endswith("200 OK")
        status, headers, _body = _raw_get(url, "/api/v2/status.json", f"If-None-Match: {headers['etag']}\r\n")
        assert status.endswith("304 Not Modified") and "content-length" not in headers
        # The live page's websocket is served on the same port.
        host = url.removeprefix("http://")
        status, headers, _body = _raw_get(url, "/ws/status/public/", (
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://{host}\r\n"), upgrade=True)
        assert status.endswith("101 Switching Protocols"), status
        assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        log = web.output()
    finally:
        web.stop()
    assert "GET /status/" not in log  # no access line per request by default


@pytest.mark.django_db
def test_only_errors_and_slow_requests_are_logged_unless_every_request_is_asked_for(page, caplog):
    _rebuild(timezone.now())
    with caplog.at_level(logging.INFO, logger="vigil.access"):
        assert Client().get("/status/").status_code == 200
        assert Client().get("/status/no-such-page/").status_code == 404
        assert not [r for r in caplog.records if r.name == "vigil.access"]
        with override_settings(VIGIL_SLOW_REQUEST_MS=1):
            Client().get("/accounts/login/")  # a rendered form takes longer than 1 ms: logged as slow
        slow = [r for r in caplog.records if r.name == "vigil.access"]
        assert slow and slow[-1].levelno == logging.WARNING and slow[-1].path == "/accounts/login/"
        caplog.clear()
        with override_settings(VIGIL_ACCESS_LOG="all"):
            Client().get("/status/")
        assert [r.getMessage().split(" ")[:3] for r in caplog.records if r.name == "vigil.access"] == [["GET", "/status/", "200"]]
