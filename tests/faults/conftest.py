"""Fixtures of the fault scenarios: a local target that always answers, monitors on it, a public page."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.test_engine_processes import Target


@pytest.fixture
def healthy_target():
    server = Target()
    yield server
    server.close()


@pytest.fixture
def watched(healthy_target):
    """Eight HTTP monitors every 5 s on a healthy target, an alert rule that would page on any
    down, and a default status page already built (its last-good copy exists)."""
    from alerting.models import AlertRule
    from incidents.models import Component
    from monitors import services
    from monitors.models import Monitor
    from statuspage.models import StatusPage
    from statuspage.snapshot import rebuild

    now = timezone.now()
    component = Component.objects.create(name="API")
    monitors = []
    for index in range(8):
        monitor = Monitor(name=f"api-{index}", kind="http", target=f"{healthy_target.url}/ok", interval_seconds=5, timeout_seconds=3,
                          retries=1, retry_interval_seconds=5, component=component)
        services.monitor_upsert(monitor=monitor, now=now)
        monitors.append(monitor)
    AlertRule.objects.create(name="Any monitor down", states=["down", "degraded"], severity="critical")
    page, _ = StatusPage.objects.update_or_create(slug="public", defaults={"title": "Example Status", "is_default": True})
    page.components.set([component])
    rebuild(page)
    return monitors
