"""Team checklists: the guides' daily, weekly and monthly checks are the defaults; signing one
off needs every item ticked and shows who and when; a list whose last period went unsigned is
overdue on the dashboard."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from incidents import services as incident_services
from incidents.models import OpsChecklist, OpsChecklistSignOff
from lib.periods import period_start, previous_period_start

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)  # a Friday


def test_periods():
    assert period_start("daily", date(2026, 11, 20)) == date(2026, 11, 20)
    assert period_start("weekly", date(2026, 11, 20)) == date(2026, 11, 16)
    assert period_start("monthly", date(2026, 11, 20)) == date(2026, 11, 1)
    assert previous_period_start("weekly", date(2026, 11, 16)) == date(2026, 11, 9)
    assert previous_period_start("monthly", date(2026, 3, 1)) == date(2026, 2, 1)
    with pytest.raises(ValueError, match="cadence must be daily, weekly or monthly"):
        period_start("hourly", date(2026, 1, 1))


def test_the_guides_checks_are_the_defaults():
    lists = {c.name: (c.cadence, [i.text for i in c.items.all()]) for c in OpsChecklist.objects.prefetch_related("items")}
    assert lists["Daily checks"][0] == "daily" and "Verify backups completed within the last 24 hours" in lists["Daily checks"][1]
    assert lists["Weekly checks"][1] == ["Review performance trends", "Check capacity utilization", "Identify slow endpoints", "Plan optimizations"]
    assert "Update runbooks if needed" in lists["Monthly checks"][1]


def test_signing_off_shows_who_and_when_and_needs_every_item(client, responder):
    daily = OpsChecklist.objects.get(name="Daily checks")
    items = list(daily.items.values_list("pk", flat=True))
    client.force_login(responder)
    with time_machine.travel(NOW, tick=False):
        partly = client.post("/checklists/", {"checklist": daily.pk, "item": items[:1]})
        assert partly.status_code == 400 and "items: tick every item before signing off; not ticked: Check error rate" in partly.content.decode()
        assert client.post("/checklists/", {"checklist": daily.pk, "item": items, "note": "backups fine"}).status_code == 302
        page = client.get("/checklists/").content.decode()
        again = client.post("/checklists/", {"checklist": daily.pk, "item": items})
    assert "by <strong>rory-responder</strong>" in page and "2026-11-20 09:30 UTC" in page and "backups fine" in page
    assert again.status_code == 400 and "already signed off for the period from 2026-11-20" in again.content.decode()
    assert OpsChecklistSignOff.objects.get().signed_by == responder


def test_a_list_whose_last_period_went_unsigned_is_overdue_on_the_dashboard(client, viewer, responder):
    daily = OpsChecklist.objects.get(name="Daily checks")
    items = list(daily.items.values_list("pk", flat=True))
    client.force_login(viewer)
    with time_machine.travel(NOW, tick=False):
        assert "Overdue checklists" not in client.get("/dashboard/").content.decode()  # never used: not overdue
        assert client.post("/checklists/", {"checklist": daily.pk, "item": items}).status_code == 403
    incident_services.checklist_sign_off(checklist_id=daily.pk, ticked=items, by=responder, now=NOW)
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        assert "Overdue checklists" not in client.get("/dashboard/").content.decode()  # yesterday was signed
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        page = client.get("/dashboard/").content.decode()
    assert "Overdue checklists" in page and "Daily checks</a>" in page
