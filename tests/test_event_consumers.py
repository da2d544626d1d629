"""Reactions are durable consumers: one event a consumer cannot handle is retried, then
quarantined, and never holds back another monitor's alert; it is shown on the operations
page with its error, and a retry after the cause is fixed handles it. Runs on whichever
database the suite uses (SQLite, or PostgreSQL when DATABASE_URL is set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from alerting.models import Alert, AlertRule, Channel
from core import events
from core.models import Event, EventCursor, EventFailure
from incidents.models import AutoIncidentRule, Component, Incident
from monitors import services as monitor_services
from monitors.checkers.base import Result
from monitors.models import Monitor

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
BATCH = 50  # the worker's batch size: one transaction of results


@pytest.fixture
def fleet() -> dict[str, object]:
    """50 monitors, one of them on a component whose auto-incident cannot be saved: its rule holds an
    impact no incident accepts (a row written before validation existed, or by hand in the database)."""
    channel = Channel.objects.create(name="ops-mail", kind="email", config={"to": ["ops@example.com"]})
    rule = AlertRule.objects.create(name="down", states=["down"])
    rule.channels.add(channel)
    payments = Component.objects.create(name="Payments")
    auto = AutoIncidentRule.objects.create(component=payments, trigger_status="partial_outage", title_template="{component} outage",
                                           is_public=False)
    AutoIncidentRule.objects.filter(pk=auto.pk).update(impact="apocalypse")
    monitors = [Monitor.objects.create(name=f"svc-{index:02}", kind="tcp", target="127.0.0.1:1", retries=0, recovery_confirmations=1,
                                       component=payments if index == 7 else None) for index in range(BATCH)]
    return {"payments": payments, "monitors": monitors, "poisoned": monitors[7]}


def observe(monitors: list[Monitor], outcome: str, at: datetime) -> None:
    checked = [monitor_services.Checked(m.pk, at, Result(outcome, message="connection refused")) for m in monitors]
    monitor_services.record_results(region_name="default", checked=checked, now=at)


def test_one_poisoned_auto_incident_holds_back_no_alert_and_is_retried_once_fixed(fleet, client, admin_user, responder):
    observe(fleet["monitors"], "down", T0)
    events.drain(now=T0)

    # Every monitor of the batch alerts, the poisoned one included: alerting is its own consumer.
    assert Alert.objects.count() == BATCH
    assert set(Alert.objects.values_list("monitor_id", flat=True)) == {m.pk for m in fleet["monitors"]}
    # The component shows the outage (its own consumer); only the auto-incident failed, and it is parked.
    fleet["payments"].refresh_from_db()
    assert fleet["payments"].status == "major_outage"
    assert not Incident.objects.exists()
    failure = EventFailure.objects.get()
    assert (failure.consumer, failure.state, failure.attempts, failure.key) == ("auto-incidents", "retrying", 1, f"component:{fleet['payments'].pk}")
    assert "apocalypse" in failure.last_error

    # Retried with backoff until quarantined; each retry fails the same way.
    at = T0
    for _ in range(10):
        at += timedelta(minutes=15)
        events.drain(now=at)
    failure.refresh_from_db()
    assert (failure.state, failure.attempts) == ("quarantined", 5)

    # The operations page shows it, its consumer and its error, with a retry button for responders.
    client.force_login(admin_user)
    page = client.get("/ops/").content.decode()
    assert f"#{failure.event_id}" in page and "auto-incidents" in page and "Quarantined" in page
    assert "is not a valid choice" in page

    # Fixed (a real impact), a responder retries it: the incident opens.
    AutoIncidentRule.objects.update(impact="major")
    client.force_login(responder)
    response = client.post(f"/ops/events/{failure.pk}/retry/")
    assert response.status_code == 302
    assert not EventFailure.objects.exists()
    incident = Incident.objects.get()
    assert (incident.title, incident.impact) == ("Payments outage", "major")


def test_an_auto_incident_title_over_200_characters_is_shortened_not_lost(fleet):
    long_name = Component.objects.create(name="L" * 100)
    AutoIncidentRule.objects.create(component=long_name, title_template="{component} outage: {component}", is_public=False)
    monitor = Monitor.objects.create(name="long", kind="tcp", target="127.0.0.1:1", retries=0, component=long_name)
    observe([monitor], "down", T0)
    events.drain(now=T0)
    incident = Incident.objects.get(auto_rule__component=long_name)
    assert len(incident.title) == 200 and incident.title.startswith("L" * 100 + " outage: ")
    assert not EventFailure.objects.filter(consumer="auto-incidents", key=f"component:{long_name.pk}").exists()


def test_later_events_of_the_same_key_wait_behind_a_failure_and_other_keys_go_on(fleet):
    poisoned = fleet["poisoned"]
    others = [m for m in fleet["monitors"] if m != poisoned]
    observe(fleet["monitors"], "down", T0)
    events.drain(now=T0)
    observe([poisoned, *others], "ok", T0 + timedelta(minutes=1))
    events.drain(now=T0 + timedelta(minutes=1))

    waiting = EventFailure.objects.get(state="waiting")
    assert waiting.key == f"component:{fleet['payments'].pk}" and waiting.consumer == "auto-incidents"
    # The other monitors' recoveries were handled: their alerts are resolved (after resolve_after) or recovering.
    assert not EventFailure.objects.exclude(consumer="auto-incidents").exists()
    # The retry reads the component as it is now (recovered: no incident to open), succeeds,
    # and releases the event waiting behind it, in order.
    events.drain(now=T0 + timedelta(minutes=2))
    assert not EventFailure.objects.exists()
    assert not Incident.objects.exists()
    cursor = EventCursor.objects.get(consumer="auto-incidents")
    assert cursor.position == Event.objects.filter(topic="component.status").order_by("-pk").values_list("pk", flat=True).first()


def test_each_event_is_handled_once_by_each_consumer(fleet):
    observe(fleet["monitors"], "down", T0)
    assert events.drain(now=T0) > 0
    assert events.drain(now=T0) == 0  # nothing twice
    assert Alert.objects.count() == BATCH
    for row in events.status():
        assert row.pending == 0


def test_the_events_command_lists_failures_and_retries_them(fleet, capsys):
    observe(fleet["monitors"], "down", T0)
    events.drain(now=T0)
    call_command("events")
    listing = capsys.readouterr().out
    assert "auto-incidents" in listing and "retrying" in listing and "apocalypse" in listing
    failure = EventFailure.objects.get()
    with pytest.raises(CommandError, match="failed again"):
        call_command("events", "retry", str(failure.pk))
    with pytest.raises(CommandError, match="no failed event with id 999999"):
        call_command("events", "retry", "999999")
    AutoIncidentRule.objects.update(impact="major")
    call_command("events", "retry", str(failure.pk))
    assert "1 handled, 0 still failing" in capsys.readouterr().out
    assert Incident.objects.filter(title="Payments outage").exists()


def test_metrics_count_what_each_consumer_holds_back(fleet, client):
    observe(fleet["monitors"], "down", T0)
    events.drain(now=T0)
    body = client.get("/metrics").content.decode()
    assert 'vigil_event_consumer_failures{consumer="auto-incidents",state="retrying"} 1.0' in body
    assert 'vigil_event_consumer_pending{consumer="alerting"} 0.0' in body


def test_an_slo_is_refreshed_as_soon_as_its_monitor_goes_down(fleet):
    from slo.models import SLO, SLOSnapshot

    slo = SLO.objects.create(name="Payments availability", objective=99.9, window="rolling_30d")
    slo.monitors.set(fleet["monitors"][:3])
    observe(fleet["monitors"], "down", T0)
    events.drain(now=T0 + timedelta(seconds=2))
    snapshot = SLOSnapshot.objects.get(slo=slo)  # before the minute refresh ran
    assert (snapshot.valid, snapshot.good) == (3, 0)
    assert snapshot.at == T0.replace(second=0, microsecond=0)


def test_a_consumer_added_by_an_upgrade_starts_at_the_end_of_the_log_not_a_week_back(fleet):
    observe(fleet["monitors"], "down", T0)  # history the new consumer must not replay
    EventCursor.objects.filter(consumer="slo").delete()
    events.start_new_consumers()  # what migrate does (post_migrate)
    assert EventCursor.objects.get(consumer="slo").position == Event.objects.order_by("-pk").first().pk
    assert EventCursor.objects.get(consumer="alerting").position == 0  # an existing cursor is left where it was
