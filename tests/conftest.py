"""Shared fixtures. Real PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set;
otherwise SQLite and the embedded Redis, started here for the run."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from django.conf import settings


@pytest.fixture(scope="session", autouse=True)
def redis_server() -> Iterator[None]:
    process = None
    if settings.VIGIL_EMBEDDED_REDIS:
        from portal.embedded_redis import ensure_running

        process = ensure_running(settings.VIGIL_EMBEDDED_REDIS_SOCKET)
    yield
    if process is not None:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(autouse=True)
def clean_redis(redis_server: None) -> None:
    """Each test starts with an empty Redis database (db 15 in CI, never shared with a real deployment)."""
    from core.redis_client import get_redis

    get_redis().flushdb()
    # Status page snapshots live in Redis, process memory and files: all three start empty.
    import shutil

    from statuspage import snapshot

    snapshot._memory.clear()
    snapshot._files.clear()
    shutil.rmtree(snapshot.snapshot_dir(), ignore_errors=True)


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def role_user(django_user_model, username: str, role: str):  # type: ignore[no-untyped-def]
    from core.services import assign_role

    user = django_user_model.objects.create_user(username=username, password="a-long-test-password")
    if role:
        assign_role(user=user, role=role)
    return user


@pytest.fixture
def viewer(django_user_model, db):  # type: ignore[no-untyped-def]
    return role_user(django_user_model, "vera-viewer", "viewer")


@pytest.fixture
def responder(django_user_model, db):  # type: ignore[no-untyped-def]
    return role_user(django_user_model, "rory-responder", "responder")


@pytest.fixture
def admin_user(django_user_model, db):  # type: ignore[no-untyped-def]
    return role_user(django_user_model, "ada-admin", "admin")


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# --- Browser tests: Playwright driving Debian's chromium against a real daphne server ---

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture
def live_app(transactional_db, tmp_path):  # type: ignore[no-untyped-def]
    """The real ASGI app (HTTP + websockets) served by daphne on a free port."""
    from tests.processes import BIN, Process, process_env, wait_until

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Process("daphne", [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
                     process_env(DEBUG="1"), tmp_path)

    def answering() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    wait_until(answering, 30, f"daphne did not start:\n{server.output()[-2000:]}")
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail("chromium is missing: `make test` installs it with apt-get (Debian package chromium)")
        pytest.skip("browser tests need Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls
    # (fixtures, assertions) are still plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def login(page, base_url: str, username: str, password: str = "a-long-test-password") -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/dashboard/")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Wraps pytest-django's: before the test database is dropped, end any session a
    killed child process left behind (PostgreSQL notices a dead client only later)."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def rows_from_data_migrations(request: pytest.FixtureRequest) -> None:
    """A fresh database holds rows that data migrations write (the default region and status page, the
    guides' checklists; role groups come back with flush's post_migrate); a transactional test elsewhere flushes them when it ends. Put them back before each
    test that uses the database, so no test depends on which tests ran before it."""
    import importlib

    from django.apps import apps

    names = request.fixturenames
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" in names or "live_server" in names or (marker is not None and marker.kwargs.get("transaction")):
        request.getfixturevalue("transactional_db")
    elif "db" in names or marker is not None:
        request.getfixturevalue("db")
    else:
        return
    for module, function in (("monitors.migrations.0002_checkresult_time_index", "create_default_region"),
                             ("statuspage.migrations.0002_default_page", "create_default_page"),
                             ("incidents.migrations.0010_h19_ops_checklists_defaults", "seed")):
        getattr(importlib.import_module(module), function)(apps, None)
