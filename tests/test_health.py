"""GET /health, /health/db, /health/cache and /ready against real dependencies."""

from __future__ import annotations

import time

import pytest
from django.test import override_settings

from core.redis_client import BEAT_TICK_KEY, WORKER_KEY_PREFIX, get_redis

pytestmark = pytest.mark.django_db(transaction=True)


def _alive_worker_and_beat() -> None:
    get_redis().set(f"{WORKER_KEY_PREFIX}worker-default@test", "{}", ex=30)
    get_redis().set(BEAT_TICK_KEY, repr(time.time()), ex=60)


def test_it_reports_healthy_with_every_dependency_up(client):
    _alive_worker_and_beat()
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy", body
    assert set(body["checks"]) == {"database", "cache", "broker", "workers", "beat", "status_pages"}
    assert body["checks"]["database"]["status"] == "healthy"
    assert body["checks"]["database"]["latency_ms"] >= 0
    assert body["checks"]["workers"]["count"] == 1
    assert body["checks"]["beat"]["last_tick_age_seconds"] < 5
    assert body["version"] and body["uptime_seconds"] >= 0
    assert response["X-Request-ID"]
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_it_is_degraded_without_workers_or_beat(client):
    body = client.get("/health").json()
    assert body["status"] == "degraded"
    assert body["checks"]["workers"]["status"] == "degraded"
    assert "start one" in body["checks"]["workers"]["error"]
    assert body["checks"]["beat"]["last_tick_age_seconds"] is None


def test_it_is_degraded_when_beat_is_stale(client):
    get_redis().set(f"{WORKER_KEY_PREFIX}w@test", "{}", ex=30)
    get_redis().set(BEAT_TICK_KEY, repr(time.time() - 120), ex=600)
    body = client.get("/health").json()
    assert body["status"] == "degraded"
    assert body["checks"]["beat"]["status"] == "degraded"
    assert body["checks"]["beat"]["last_tick_age_seconds"] >= 119


def _unreachable_redis(free_port: int) -> dict:
    url = f"redis://127.0.0.1:{free_port}/0"  # nothing listens on this port
    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                          "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    return {"REDIS_URL": url, "CELERY_BROKER_URL": url, "CACHES": caches}


def test_it_is_unhealthy_when_redis_is_unreachable_and_answers_in_time(client, free_port):
    _alive_worker_and_beat()
    with override_settings(**_unreachable_redis(free_port)):
        from django.core.cache import caches

        caches._settings = None
        started = time.monotonic()
        response = client.get("/health")
        elapsed = time.monotonic() - started
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unhealthy"
    assert body["checks"]["broker"]["status"] == "unhealthy"
    assert "Connection" in body["checks"]["broker"]["error"] or "refused" in body["checks"]["broker"]["error"].lower()
    assert body["checks"]["cache"]["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "healthy"
    assert elapsed < 5


def test_health_cache_alone_turns_degraded_when_redis_is_down(client, free_port):
    with override_settings(**_unreachable_redis(free_port)):
        response = client.get("/health/cache")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert list(body["checks"]) == ["cache"]


def test_it_is_unhealthy_when_the_database_is_unreachable(client, free_port):
    """The requests run in a fresh thread, so they open fresh connections with the broken
    settings; the test's own connection (and SQLite's in-memory test database) is untouched."""
    import threading

    from django.db import connections

    db_settings = connections.settings["default"]
    original = dict(db_settings)
    answers: dict[str, object] = {}

    def ask() -> None:
        started = time.monotonic()
        answers["health"] = client.get("/health/db")
        answers["elapsed"] = time.monotonic() - started
        answers["ready"] = client.get("/ready")
        connections.close_all()

    try:
        if connections["default"].vendor == "postgresql":
            db_settings.update({"HOST": "127.0.0.1", "PORT": str(free_port)})  # nothing listens there
        else:
            db_settings.update({"NAME": "/nonexistent-dir/vigil.sqlite3"})
        thread = threading.Thread(target=ask)
        thread.start()
        thread.join(30)
    finally:
        db_settings.clear()
        db_settings.update(original)
    response, ready = answers["health"], answers["ready"]
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"]["status"] == "unhealthy"
    assert body["checks"]["database"]["error"]
    assert answers["elapsed"] < 5
    assert ready.status_code == 503
    assert "database unreachable" in ready.json()["reason"]


def test_ready_is_ok_when_migrated(client):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


def test_request_id_is_kept_from_upstream_and_replaced_when_unsafe(client):
    assert client.get("/ready", HTTP_X_REQUEST_ID="lb-123.abc")["X-Request-ID"] == "lb-123.abc"
    replaced = client.get("/ready", HTTP_X_REQUEST_ID="<script>")["X-Request-ID"]
    assert replaced != "<script>" and len(replaced) == 32
