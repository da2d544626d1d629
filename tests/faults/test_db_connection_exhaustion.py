"""Fault 11: the database refuses new connections (max connections reached). Pages that
need it answer 503 with a clear message (never a 500 or a stack trace), /health says
unhealthy, the public status page keeps serving, and everything recovers by itself."""

from __future__ import annotations

import pytest
import requests
from django.db import connection

from api.tokens import token_issue
from incidents.models import Component
from statuspage.models import StatusPage
from tests.faults.helpers import start_web
from tests.processes import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROLE = "vigil_fault_limited"


def sql(statement: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement)


@pytest.fixture
def limited_role():
    if connection.vendor != "postgresql":
        pytest.skip("connection limits are a PostgreSQL matter; set DATABASE_URL (CI does)")
    name = connection.settings_dict["NAME"]
    sql(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN CREATE ROLE {ROLE} LOGIN; END IF; END $$")
    for grant in (f"GRANT CONNECT ON DATABASE {name} TO {ROLE}", f"GRANT USAGE, CREATE ON SCHEMA public TO {ROLE}",
                  f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {ROLE}", f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {ROLE}"):
        sql(grant)
    yield f"postgres://{ROLE}@{connection.settings_dict['HOST'] or '127.0.0.1'}:{connection.settings_dict['PORT'] or 5432}/{name}"
    sql(f"ALTER ROLE {ROLE} CONNECTION LIMIT -1")
    sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{ROLE}'")
    sql(f"DROP OWNED BY {ROLE}")
    sql(f"DROP ROLE IF EXISTS {ROLE}")


def test_connection_exhaustion_gives_clear_503s_and_recovers(limited_role, tmp_path, admin_user, client):
    from statuspage.snapshot import rebuild

    page = StatusPage.objects.create(slug="public-fault", title="Example Status", is_default=False)
    page.components.add(Component.objects.create(name="API"))
    rebuild(page)
    _token, api_token = token_issue(user=admin_user, name="fault", scope="read")
    client.force_login(admin_user)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    web, url = start_web(tmp_path, DATABASE_URL=limited_role)
    try:
        def get(path: str, **kwargs: object) -> requests.Response:
            return requests.get(f"{url}{path}", timeout=10, **kwargs)  # type: ignore[arg-type]

        assert get("/dashboard/", cookies=cookies).status_code == 200
        assert get("/status/public-fault/").status_code == 200
        assert get("/api/v1/monitors", headers={"Authorization": f"Bearer {api_token}"}).status_code == 200

        # max connections reached: no new connection for Vigil's role, and the ones it had are gone.
        sql(f"ALTER ROLE {ROLE} CONNECTION LIMIT 0")
        sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{ROLE}'")

        dashboard = get("/dashboard/", cookies=cookies)
        assert dashboard.status_code == 503 and dashboard.headers["Retry-After"] == "30"
        assert "cannot reach its database" in dashboard.text and "Traceback" not in dashboard.text
        api = get("/api/v1/monitors", headers={"Authorization": f"Bearer {api_token}"})
        assert api.status_code == 503 and "database" in api.json()["detail"]
        health = get("/health")
        assert health.status_code == 503 and health.json()["checks"]["database"]["status"] == "unhealthy"
        status_page = get("/status/public-fault/")
        assert status_page.status_code == 200 and "Example Status" in status_page.text

        sql(f"ALTER ROLE {ROLE} CONNECTION LIMIT -1")
        wait_until(lambda: get("/dashboard/", cookies=cookies).status_code == 200, 15, "the dashboard did not recover")
        assert get("/api/v1/monitors", headers={"Authorization": f"Bearer {api_token}"}).status_code == 200
        assert get("/health").json()["checks"]["database"]["status"] == "healthy"
        assert "Traceback" not in web.output()
    finally:
        web.stop()
