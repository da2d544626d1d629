"""A monitor keeps the HTTP status of its last check: after a 200 it says 200 on the
monitor row, the staff page and the ops API (issue 17: it stayed null)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from api.tokens import token_issue
from monitors import services
from monitors.models import Monitor
from monitors.tasks import check_batch
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server():
    instance = HTTPServer({"/ok": lambda h: respond(h, 200, b"fine"), "/gone": lambda h: respond(h, 503, b"no")})
    yield instance
    instance.close()


def test_a_200_is_kept_as_the_last_status_code(server, admin_user, client):
    now = timezone.now()
    monitor = services.monitor_upsert(changes={"name": "web", "kind": "http", "target": f"{server.url}/ok"}, by=admin_user, now=now)
    check_batch([[monitor.pk, now.isoformat()]], "default")
    monitor.refresh_from_db()
    assert (monitor.last_outcome, monitor.last_status_code) == ("ok", 200)
    _token, clear = token_issue(user=admin_user, name="t", scope="read")
    body = client.get(f"/api/v1/monitors/{monitor.pk}", HTTP_AUTHORIZATION=f"Bearer {clear}").json()
    assert body["last_status_code"] == 200
    Monitor.objects.filter(pk=monitor.pk).update(target=f"{server.url}/gone")
    check_batch([[monitor.pk, (now + timezone.timedelta(minutes=1)).isoformat()]], "default")
    monitor.refresh_from_db()
    assert monitor.last_status_code == 503
