"""Status pages as files: every public document written with .gz and .br siblings, served from
the file by Vigil's web process and by Debian's nginx-light with the documented configuration,
byte for byte what Django renders."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import brotli
import pytest
import requests
from django.test import Client
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import Component
from statuspage import snapshot
from statuspage.models import StatusPage
from tests.processes import ROOT, Process, free_port, start_procfile_web, wait_for_http, wait_until

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def pages(db, responder):
    for folder in ("public", "manifests", "built"):
        shutil.rmtree(snapshot.snapshot_dir() / folder, ignore_errors=True)
    api = Component.objects.create(name="API")
    Component.objects.create(name="Website")
    default, _ = StatusPage.objects.get_or_create(slug="public", defaults={"title": "Status", "is_default": True})
    other = StatusPage.objects.create(slug="partners", title="Partner status")
    now = timezone.now()
    incident = incident_services.incident_open(title="Checkout errors", impact="major", message="Looking into it " + "x" * 2000,
                                               components={api.pk: "partial_outage"}, by=responder, now=now - timedelta(days=2))
    # Over before today, on components with a history: an outage today (going on or not) makes today's
    # figures move as the day goes on, and so does the 90-day figure of a component minutes old, so
    # those pages rightly change by the minute; these tests compare bytes and validators across minutes.
    incident_services.incident_post_update(incident_id=incident.pk, expected_version=None, status="resolved", message="Fixed.",
                                           by=responder, now=now - timedelta(days=2) + timedelta(minutes=30))
    Component.objects.update(created_at=now - timedelta(days=120))
    snapshot.publish_routes()
    _rebuild(timezone.now())
    return default, other, api


def _rebuild(now) -> None:
    for page in StatusPage.objects.all():
        snapshot.rebuild(page, now=now)
    snapshot._memory.clear()


def _urls(api: Component) -> list[str]:
    incident = snapshot.get_document("public", "api/v2/incidents.json")
    assert incident is not None
    first = re.search(rb'"id":"?(\d+)', incident.body)
    assert first
    return ["/status/", "/status/live/", "/status/history/", f"/status/incidents/{first.group(1).decode()}/",
            "/status/theme.css", "/status/history.rss", "/status/history.atom", "/status/calendar.ics",
            f"/status/badges/{api.pk}.svg", "/api/v2/summary.json", "/status/api/v2/components.json",
            "/status/public/", "/status/partners/", "/status/partners/api/v2/status.json", "/status/partners/history/"]


def _file_for(url: str) -> Path:
    relative = url[1:] + "index.html" if url.endswith("/") else url[1:]
    return snapshot.public_dir() / relative


@pytest.mark.django_db
def test_every_public_document_is_a_file_with_compressed_siblings_equal_to_djangos_rendering(pages):
    _default, _other, api = pages
    client = Client()
    for url in _urls(api):
        rendered = client.get(url)
        assert rendered.status_code == 200, url
        path = _file_for(url)
        assert path.read_bytes() == rendered.content, url
        if len(rendered.content) >= snapshot.GZIP_MIN_BYTES:
            assert gzip.decompress(Path(f"{path}.gz").read_bytes()) == rendered.content, url
            assert brotli.decompress(Path(f"{path}.br").read_bytes()) == rendered.content, url
        assert not list(path.parent.glob(".*")), "no temporary file is left behind"


@pytest.mark.django_db
def test_files_change_only_with_their_content_and_go_with_their_page(pages):
    _default, other, _api = pages
    index = snapshot.public_dir() / "status/index.html"
    summary = snapshot.public_dir() / "api/v2/summary.json"
    stamp = index.stat().st_mtime_ns, summary.stat().st_mtime_ns
    _rebuild(timezone.now() + timedelta(minutes=1))
    assert (index.stat().st_mtime_ns, summary.stat().st_mtime_ns) == stamp  # same bytes: untouched
    Component.objects.filter(name="Website").update(status="major_outage", status_changed_at=timezone.now())
    _rebuild(timezone.now() + timedelta(minutes=2))
    assert b"major_outage" in summary.read_bytes() and summary.stat().st_mtime_ns != stamp[1]

    partners = snapshot.public_dir() / "status/partners"
    assert (partners / "index.html").exists()
    StatusPage.objects.filter(pk=other.pk).update(visibility=StatusPage.Visibility.PRIVATE)
    snapshot.publish_routes()
    assert not partners.exists()  # a private page has no public files (and no empty folder)
    assert index.exists()
    assert Client().get("/status/partners/").status_code == 302  # Django asks for the token


def _documented_nginx_block() -> str:
    text = (ROOT / "docs" / "deployment.md").read_text()
    section = text[text.index("## Status pages as files"):]
    return section[section.index("```nginx") + len("```nginx"):section.index("```", section.index("```nginx") + 8)]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not os.path.exists(NGINX), reason="needs Debian's nginx-light: apt-get install nginx-light (make bench-peers)")
def test_nginx_serves_the_directory_with_the_documented_config_and_the_bytes_equal_djangos(pages, tmp_path):
    _default, _other, api = pages
    web, vigil = start_procfile_web(tmp_path)
    port = free_port()
    block = (_documented_nginx_block()
             .replace("/var/lib/vigil/statuspage/public", str(snapshot.public_dir()))
             .replace("127.0.0.1:8000", vigil.removeprefix("http://")))
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events { worker_connections 256; }\nhttp {\n"
        f"access_log off;\nclient_body_temp_path {tmp_path}/body;\nproxy_temp_path {tmp_path}/proxy;\n"
        f"fastcgi_temp_path {tmp_path}/fastcgi;\nuwsgi_temp_path {tmp_path}/uwsgi;\nscgi_temp_path {tmp_path}/scgi;\n"
        f"server {{\nlisten 127.0.0.1:{port};\nserver_name localhost;\n{block}\n}}\n}}\n")
    check = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    nginx = Process("nginx", [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], dict(os.environ), tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/status/", nginx, timeout=20)
        client = Client()
        for path in _urls(api):
            rendered = client.get(path)
            served = requests.get(url + path, timeout=5, headers={"Accept-Encoding": "identity"})
            assert served.status_code == 200, path
            assert served.content == rendered.content, path
            assert served.headers["Content-Type"] == rendered["Content-Type"], path
            assert served.headers["Last-Modified"] == rendered["Last-Modified"], path
            # From the file, not proxied to Vigil (whose file layer's ETag is a content hash).
            assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+"', served.headers["ETag"]), path
        page = requests.get(f"{url}/status/", timeout=5, headers={"Accept-Encoding": "gzip"})
        assert page.headers["Content-Encoding"] == "gzip" and page.content == client.get("/status/").content
        etag = page.headers["ETag"]
        _rebuild(timezone.now() + timedelta(minutes=1))
        again = requests.get(f"{url}/status/", timeout=5, headers={"Accept-Encoding": "gzip"})
        assert again.headers["ETag"] == etag  # stable while nothing changed
        assert requests.get(f"{url}/status/", timeout=5, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"}).status_code == 304
        # What has no file goes to Vigil: a query string, a form, an unknown document.
        history = requests.get(f"{url}/status/history/?page=1", timeout=5)
        assert history.status_code == 200 and "X-Request-ID" in history.headers
        assert requests.get(f"{url}/status/subscribe/", timeout=5).status_code == 200
        assert requests.get(f"{url}/status/badges/999999.svg", timeout=5).status_code == 404
    finally:
        nginx.stop()
        web.stop()


@pytest.mark.django_db(transaction=True)
def test_the_make_run_server_answers_from_the_files_with_djangos_bytes_and_headers(pages, tmp_path):
    default, other, api = pages
    web, url = start_procfile_web(tmp_path)
    try:
        client = Client()
        for path in _urls(api):
            rendered = client.get(path, HTTP_ACCEPT_ENCODING="gzip")
            served = requests.get(url + path, timeout=5, headers={"Accept-Encoding": "gzip"})
            assert served.status_code == 200, path
            assert served.content == gzip.decompress(rendered.content) if rendered.has_header("Content-Encoding") else rendered.content
            assert "X-Request-ID" not in served.headers, f"{path} went through Django"
            for name in ("Content-Type", "ETag", "Last-Modified", "Cache-Control", "Vary", "X-Frame-Options",
                         "X-Content-Type-Options", "Referrer-Policy", "Cross-Origin-Opener-Policy", "Access-Control-Allow-Origin"):
                assert served.headers.get(name) == (rendered[name] if rendered.has_header(name) else None), (path, name)
            # The same policy (django-csp orders its directives differently from process to process).
            assert sorted(served.headers["Content-Security-Policy"].split("; ")) == sorted(rendered["Content-Security-Policy"].split("; "))
        brotli_page = requests.get(f"{url}/status/", timeout=5, headers={"Accept-Encoding": "br"}, stream=True)
        assert brotli_page.headers["Content-Encoding"] == "br"
        assert brotli.decompress(brotli_page.raw.read()) == client.get("/status/").content
        modified = requests.get(f"{url}/status/", timeout=5).headers["Last-Modified"]
        assert requests.get(f"{url}/status/", timeout=5, headers={"If-Modified-Since": modified}).status_code == 304
        # A private page, a query string and a stale page are Django's.
        StatusPage.objects.filter(pk=other.pk).update(visibility=StatusPage.Visibility.PRIVATE)
        snapshot.publish_routes()
        # (The server remembers the routes for a second: snapshot.MEMORY_SECONDS.)
        wait_until(lambda: requests.get(f"{url}/status/partners/", timeout=5, allow_redirects=False).status_code == 302, 5,
                   "a page turned private was still served")
        assert "X-Request-ID" in requests.get(f"{url}/status/history/?page=1", timeout=5).headers
        old = (timezone.now() - timedelta(minutes=10)).timestamp()
        os.utime(snapshot.snapshot_dir() / "built" / default.slug, (old, old))
        wait_until(lambda: "X-Request-ID" in requests.get(f"{url}/status/", timeout=5).headers, 5,
                   "a stale page was still answered from its file")
    finally:
        web.stop()


def _asgi_get(path: str, *, scheme: str = "http", client: str = "203.0.113.9", headers: list | None = None) -> tuple[str, int, dict]:
    """Call the file layer as an ASGI server would; an inner app stands for Django and says it was reached."""
    import asyncio

    from statuspage.files import StatusFilesASGI

    sent: list[dict] = []

    async def django(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"django"})

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "scheme": scheme, "client": (client, 5000),
             "headers": [(b"host", b"localhost"), *(headers or [])]}
    asyncio.run(StatusFilesASGI(django)(scope, receive, send))
    start = sent[0]
    return ("django" if start["status"] == 299 else "file"), start["status"], dict(start["headers"])


@pytest.mark.django_db
def test_with_https_redirect_on_plain_http_goes_to_django_and_https_gets_hsts(pages, settings):
    settings.ALLOWED_HOSTS = ["localhost"]
    assert _asgi_get("/status/")[0] == "file"
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.VIGIL_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert _asgi_get("/status/")[0] == "django"  # Django answers with its redirect to HTTPS
    forwarded = [(b"x-forwarded-proto", b"https")]
    assert _asgi_get("/status/", headers=forwarded)[0] == "django"  # not from a trusted proxy
    served, status, headers = _asgi_get("/status/", client="10.1.2.3", headers=forwarded)
    assert (served, status) == ("file", 200) and headers[b"strict-transport-security"].startswith(b"max-age=3600")
    assert _asgi_get("/status/", scheme="https")[0] == "file"
