"""Fault 7: an alert storm. A thousand monitors go down at once: the on-call person gets
one grouped notification per channel (not a thousand), and the dashboard stays usable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerting import services as alerting
from alerting.models import Alert, AlertRule, Channel, Notification
from core import events
from monitors import services
from monitors.checkers.base import Result
from monitors.models import Monitor

pytestmark = pytest.mark.django_db
COUNT = 1000


def test_a_thousand_monitors_down_at_once_make_one_notification_per_channel(client, viewer):
    now = timezone.now()
    Monitor.objects.bulk_create([Monitor(name=f"svc-{i:04d}", kind="tcp", target=f"10.0.{i // 250}.{i % 250}:80", retries=0,
                                         next_due_at=now + timedelta(hours=1)) for i in range(COUNT)])
    slack = Channel.objects.create(name="ops-slack", kind="slack", config={"url": "https://hooks.example/T/B/x"})
    mail = Channel.objects.create(name="ops-mail", kind="email", config={"to": ["ops@example.com"]})
    rule = AlertRule.objects.create(name="Anything down", states=["down"], group_wait_seconds=30)
    rule.channels.set([slack, mail])
    ids = list(Monitor.objects.values_list("pk", flat=True))

    # One result each, through the real write path, in the worker's batch size.
    for start in range(0, COUNT, 100):
        services.record_results(region_name="default", now=now, checked=[
            services.Checked(monitor_id, now, Result("down", message="connection refused")) for monitor_id in ids[start:start + 100]])
    events.drain(now=now)
    assert Monitor.objects.filter(state="down").count() == COUNT
    assert Alert.objects.filter(status="firing").count() == COUNT

    alerting.tick(now=now + timedelta(seconds=5))
    assert Notification.objects.count() == 0  # group_wait gathers the storm first
    alerting.tick(now=now + timedelta(seconds=31))
    notifications = list(Notification.objects.all())
    assert sorted(n.channel.name for n in notifications) == ["ops-mail", "ops-slack"]
    assert len(notifications[0].message["alerts"]) == COUNT or f"{COUNT}" in notifications[0].message["title"]
    alerting.tick(now=now + timedelta(seconds=90))
    assert Notification.objects.count() == 2  # nothing new: no repeat before repeat_interval

    client.force_login(viewer)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/dashboard/")
    page = response.content.decode()
    assert response.status_code == 200 and f"({COUNT} down" in page
    assert page.count('data-monitor="') == 50  # the list is capped; the count says the rest
    assert len(queries) < 60, len(queries)  # no query per monitor or per alert
    assert client.get("/dashboard/panels/").status_code == 200
