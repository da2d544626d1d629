"""The http and health_json kinds against real local servers, including hostile ones."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest

from monitors.checkers import health_json, http
from monitors.checkers.base import CheckSession
from monitors.models import Monitor
from tests.servers import HTTPServer, RawServer, hang, huge_body, reset, respond, slowloris

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def slow(handler):
    time.sleep(0.35)
    respond(handler, 200, b"slow but fine")


def needs_auth(handler):
    header = handler.headers.get("Authorization", "")
    good = {"Basic " + base64.b64encode(b"ops:s3cret").decode(), "Bearer tok-123"}
    respond(handler, 200 if header in good else 401, b"ok" if header in good else b"no")


def echo(handler):
    respond(handler, 200, json.dumps({"method": handler.command, "x": handler.headers.get("X-Probe", "")}).encode())


ROUTES = {
    "/ok": lambda h: respond(h, 200, b"all systems operational"),
    "/error": lambda h: respond(h, 500, b"boom"),
    "/created": lambda h: respond(h, 201, b"made"),
    "/json": lambda h: respond(h, 200, json.dumps({"status": "healthy", "checks": {"database": {"status": "degraded"}}}).encode()),
    "/slow": slow,
    "/redirect": lambda h: respond(h, 302, b"", {"Location": "/ok"}),
    "/loop": lambda h: respond(h, 302, b"", {"Location": "/loop"}),
    "/auth": needs_auth,
    "/echo": echo,
    "/health-ok": lambda h: respond(h, 200, b'{"status": "healthy", "checks": {"database": {"status": "healthy"}}}'),
    "/health-degraded": lambda h: respond(h, 200, b'{"status": "degraded", "checks": {"database": {"status": "degraded"}, "cache": {"status": "healthy"}}}'),
    "/health-down": lambda h: respond(h, 503, b'{"status": "unhealthy", "checks": {"database": {"status": "unhealthy"}, "cache": {"status": "healthy"}}}'),
    "/health-nostatus": lambda h: respond(h, 200, b'{"ok": true}'),
    "/html": lambda h: respond(h, 200, b"<html>hi</html>"),
}


@pytest.fixture(scope="module")
def server():
    instance = HTTPServer(ROUTES)
    yield instance
    instance.close()


def monitor(url: str, timeout: float = 2.0, kind: str = "http", **settings) -> Monitor:
    return Monitor(name="m", kind=kind, target=url, timeout_seconds=timeout, interval_seconds=60, settings=settings)


def run(m: Monitor, session: CheckSession | None = None):
    return (health_json if m.kind == "health_json" else http).check(m, session or CheckSession(), NOW)


def test_a_200_is_up_with_latency_and_status(server):
    result = run(monitor(f"{server.url}/ok"))
    assert (result.outcome, result.status_code) == ("ok", 200)
    assert result.latency_ms is not None and result.latency_ms < 1000


def test_an_unexpected_status_is_down_naming_what_was_expected(server):
    result = run(monitor(f"{server.url}/error"))
    assert result.outcome == "down" and result.message == "HTTP 500 Internal Server Error (expected 200-299)"
    assert run(monitor(f"{server.url}/created", expected_status=[200])).outcome == "down"
    assert run(monitor(f"{server.url}/created", expected_status=[200, "201-204"])).outcome == "ok"


def test_keyword_present_and_absent(server):
    assert run(monitor(f"{server.url}/ok", keyword="operational")).outcome == "ok"
    missing = run(monitor(f"{server.url}/ok", keyword="healthy"))
    assert missing.outcome == "down" and "keyword 'healthy' not found" in missing.message
    unwanted = run(monitor(f"{server.url}/ok", keyword_absent="operational"))
    assert unwanted.outcome == "down" and "unwanted keyword" in unwanted.message


def test_json_path_conditions(server):
    assert run(monitor(f"{server.url}/json", json_path='$.status == "healthy"')).outcome == "ok"
    assert run(monitor(f"{server.url}/json", json_path='$.checks.database.status in ["healthy", "degraded"]')).outcome == "ok"
    failed = run(monitor(f"{server.url}/json", json_path='$.checks.database.status == "healthy"'))
    assert failed.outcome == "down" and 'found "degraded"' in failed.message
    assert "not JSON" in run(monitor(f"{server.url}/html", json_path="$.status")).message


def test_latency_thresholds_make_it_degraded_then_down(server):
    assert run(monitor(f"{server.url}/slow", latency_warn_ms=100, latency_down_ms=5000)).outcome == "degraded"
    result = run(monitor(f"{server.url}/slow", latency_warn_ms=50, latency_down_ms=200))
    assert result.outcome == "down" and result.message.startswith("slow: ")


def test_redirects_are_followed_and_loops_fail(server):
    assert run(monitor(f"{server.url}/redirect")).outcome == "ok"
    assert run(monitor(f"{server.url}/redirect", follow_redirects=False, expected_status=[302])).outcome == "ok"
    loop = run(monitor(f"{server.url}/loop"))
    assert loop.outcome == "down" and loop.message == "too many redirects (more than 5)"


def test_basic_and_bearer_auth(server, monkeypatch):
    assert run(monitor(f"{server.url}/auth")).outcome == "down"
    assert run(monitor(f"{server.url}/auth", auth={"type": "basic", "username": "ops", "password": "s3cret"})).outcome == "ok"
    monkeypatch.setenv("PROBE_TOKEN", "tok-123")
    assert run(monitor(f"{server.url}/auth", auth={"type": "bearer", "token": "env:PROBE_TOKEN"})).outcome == "ok"


def test_method_headers_and_body_are_sent(server):
    run(monitor(f"{server.url}/echo", method="POST", headers={"X-Probe": "vigil"}, body='{"ping": 1}'))
    method, path, headers, body = server.requests[-1]
    assert (method, path, headers["X-Probe"], body) == ("POST", "/echo", "vigil", b'{"ping": 1}')


def test_keep_alive_reuses_one_connection(server):
    session = CheckSession()
    before = server.connections
    for _ in range(3):
        assert run(monitor(f"{server.url}/ok"), session).outcome == "ok"
    assert server.connections - before == 1


def test_a_refused_connection_is_down(free_port):
    result = run(monitor(f"http://127.0.0.1:{free_port}/"))
    assert result.outcome == "down" and "refused" in result.message


@pytest.mark.parametrize(("behaviour", "expected"), [
    (hang, "no response within 1.5s"),
    (slowloris, "within 1.5s"),
])
def test_hostile_targets_fail_within_the_timeout(behaviour, expected):
    target = RawServer(behaviour)
    try:
        started = time.monotonic()
        result = run(monitor(f"{target.url}/", timeout=1.5))
        elapsed = time.monotonic() - started
    finally:
        target.close()
    assert result.outcome == "down"
    assert expected in result.message
    assert elapsed < 1.5 + 1.0


def test_a_50_mb_body_is_never_read_whole():
    target = RawServer(huge_body)
    try:
        started = time.monotonic()
        with_keyword = run(monitor(f"{target.url}/", timeout=5, keyword="zzz"))
        without = run(monitor(f"{target.url}/", timeout=5))
        elapsed = time.monotonic() - started
    finally:
        target.close()
    assert with_keyword.outcome == "down" and "only the first 1048576 bytes were read" in with_keyword.message
    assert without.outcome == "ok"
    assert elapsed < 3


def test_a_reset_connection_is_down_with_a_message():
    target = RawServer(reset)
    try:
        result = run(monitor(f"{target.url}/", timeout=2))
    finally:
        target.close()
    assert result.outcome == "down"
    assert "reset" in result.message.lower() or "aborted" in result.message.lower() or "closed" in result.message.lower()


def test_the_session_goes_on_after_a_hanging_target(server):
    session = CheckSession()
    target = RawServer(hang)
    try:
        assert run(monitor(f"{target.url}/", timeout=1), session).outcome == "down"
    finally:
        target.close()
    assert run(monitor(f"{server.url}/ok"), session).outcome == "ok"


def test_bad_settings_name_the_problem():
    assert "not an http:// or https:// URL" in http.validate("ftp://x", {})["target"]
    assert "expected_status" in http.validate("http://x", {"expected_status": ["2xx"]})["settings"]
    assert "json_path" in http.validate("http://x", {"json_path": "status == healthy"})["settings"]
    assert "latency_warn_ms (500) must be below latency_down_ms (100)" in http.validate("http://x", {"latency_warn_ms": 500, "latency_down_ms": 100})["settings"]


@pytest.mark.parametrize(("path", "outcome", "words"), [
    ("/health-ok", "ok", "healthy"),
    ("/health-degraded", "degraded", "degraded: database"),
    ("/health-down", "down", "unhealthy: database"),
    ("/health-nostatus", "down", "no status field"),
    ("/html", "down", "not a JSON health document"),
])
def test_health_documents(server, path, outcome, words):
    result = run(monitor(f"{server.url}{path}", kind="health_json"))
    assert result.outcome == outcome
    assert words in result.message
