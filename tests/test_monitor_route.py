"""A monitor's own alert route (the monitor form's channels) follows the monitor through a rename."""

from __future__ import annotations

import pytest
from django.utils import timezone

from alerting import services as alerting_services
from alerting.models import AlertRule, Channel
from monitors import services
from monitors.models import Monitor

pytestmark = pytest.mark.django_db


def test_a_renamed_monitor_keeps_its_route_and_the_rule_takes_the_new_name():
    now = timezone.now()
    monitor = services.monitor_upsert(monitor=Monitor(name="api", kind="tcp", target="127.0.0.1:1"), now=now)
    ops = Channel.objects.create(name="ops", kind="email", config={"to": ["ops@example.com"]})
    pager = Channel.objects.create(name="pager", kind="email", config={"to": ["pager@example.com"]})
    alerting_services.monitor_route_set(monitor=monitor, channels=[ops], by=None)

    # Renamed elsewhere (the API, the admin, a config file): the form still finds its route.
    monitor = services.monitor_upsert(monitor=monitor, changes={"name": "public-api"}, now=now)
    rule = alerting_services.monitor_route_rule(monitor)
    assert rule is not None and list(rule.channels.all()) == [ops]

    alerting_services.monitor_route_set(monitor=monitor, channels=[pager], by=None)
    assert list(AlertRule.objects.values_list("name", flat=True)) == ["public-api: down"]
    assert list(AlertRule.objects.get().channels.all()) == [pager]

    # A rule of the same shape that routes other monitors too is the team's own, never taken over.
    other = services.monitor_upsert(monitor=Monitor(name="web", kind="tcp", target="127.0.0.1:1"), now=now)
    shared = AlertRule.objects.create(name="everything: down", states=["down"])
    shared.monitors.set([monitor, other])
    AlertRule.objects.filter(name="public-api: down").delete()
    assert alerting_services.monitor_route_rule(monitor) is None
