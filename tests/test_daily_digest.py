"""The daily digest email, rendered with real data: yesterday's incidents, the alerts that fired,
SLO burn and overdue checklists; mailed once a day to those who opted in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from alerting.models import Alert, AlertRule
from incidents import services as incident_services
from incidents.models import OpsChecklist
from slo.digest import mail_daily_digest, render_digest
from slo.models import SLO, DigestSubscription, SLOSnapshot

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
YESTERDAY = NOW - timedelta(days=1)


@pytest.fixture
def yesterday(responder):
    incident_services.incident_open(title="Checkout failing", impact="critical", message="Looking.", by=responder,
                                    now=YESTERDAY.replace(hour=14))
    incident_services.incident_open(title="Last week's trouble", impact="minor", message="Old.", by=responder, now=NOW - timedelta(days=9))
    rule = AlertRule.objects.create(name="checkout down", states=["down"])
    for minute in (5, 35):
        at = YESTERDAY.replace(hour=14, minute=minute)
        Alert.objects.create(rule=rule, dedup_key=f"k{minute}", group_key="all", status="resolved", severity="critical",
                             summary=f"checkout is down ({minute})", first_seen=at, last_seen=at, fired_at=at)
    slo = SLO.objects.create(name="Checkout availability", objective=99.9)
    for hour, burn in ((10, 2.0), (14, 14.4), (20, 1.0)):
        SLOSnapshot.objects.create(slo=slo, at=YESTERDAY.replace(hour=hour), good=99, valid=100, sli=0.99, budget_minutes=43.2,
                                   spent_minutes=20, remaining_ratio=0.54, burn_1h=burn, burn_6h=1, burn_3d=1, status="at risk")
    daily = OpsChecklist.objects.get(name="Daily checks")
    incident_services.checklist_sign_off(checklist_id=daily.pk, ticked=list(daily.items.values_list("pk", flat=True)), by=responder,
                                         now=NOW - timedelta(days=3))


def test_the_digest_says_what_happened_yesterday(yesterday):
    subject, text, html = render_digest(YESTERDAY.date(), NOW)
    assert subject == "Vigil daily digest 2026-11-19: 2 incident(s), 2 alert(s)"  # the minor one from last week is still open
    assert "- SEV-1 Checkout failing: Investigating, started 2026-11-19 14:00" in text
    assert "Alerts fired: 2" in text and "14:05 Critical: checkout is down (5)" in text
    assert "- Checkout availability: worst 1 h burn rate 14.4x, 0.54 of the error budget left (at risk)" in text
    assert "Overdue checklists\n- Daily checks" in text
    assert "<strong>SEV-1</strong> Checkout failing" in html and "<td>14.4x</td>" in html


def test_it_is_mailed_once_a_day_to_those_who_opted_in(client, yesterday, responder, viewer, django_user_model):
    responder.email = "rory@example.com"
    responder.save()
    client.force_login(responder)
    assert client.post("/digest/subscription/", {"active": "1"}).status_code == 302
    client.force_login(viewer)
    page = client.post("/digest/subscription/", {"active": "1"}, follow=True).content.decode()
    assert "your account has no email address" in page
    assert mail_daily_digest(now=NOW.replace(hour=6)) == 0  # from 07:00 UTC
    assert mail_daily_digest(now=NOW) == 1
    assert mail_daily_digest(now=NOW + timedelta(hours=1)) == 0  # once
    [sent] = mail.outbox
    assert sent.bcc == ["rory@example.com"] and sent.subject.startswith("Vigil daily digest 2026-11-19")
    assert "Checkout failing" in sent.body and "text/html" in sent.alternatives[0][1]
    DigestSubscription.objects.filter(user=responder).update(active=False)
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        assert mail_daily_digest(now=NOW + timedelta(days=1)) == 0 and len(mail.outbox) == 1
