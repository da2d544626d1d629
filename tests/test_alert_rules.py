"""Rules, durations, grouping, repeat, auto-resolve, silences, maintenance, inhibition,
acknowledgement and the storm of 1,000 monitors down: driven through real state changes
with a pinned clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from alerting import services
from alerting.models import Alert, AlertRule, Channel, Notification, Silence
from core import events
from incidents.models import Component
from monitors import services as monitor_services
from monitors.checkers.base import Result
from monitors.models import Monitor

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
def channel() -> Channel:
    return Channel.objects.create(name="ops-mail", kind="email", config={"to": ["ops@example.com"]})


def make_rule(channel: Channel, **fields) -> AlertRule:
    rule = AlertRule.objects.create(**{"name": "down", "states": ["down"], "group_wait_seconds": 30, "group_interval_seconds": 300,
                                       "repeat_interval_seconds": 3600, "resolve_after_seconds": 300, **fields})
    rule.channels.add(channel)
    return rule


def monitor(name: str = "api", **fields) -> Monitor:
    return Monitor.objects.create(name=name, kind="tcp", target="127.0.0.1:1", retries=0, recovery_confirmations=1, **fields)


def observe(monitors: list[Monitor], outcome: str, at: datetime) -> None:
    checked = [monitor_services.Checked(m.pk, at, Result(outcome, message="connection refused" if outcome == "down" else "ok")) for m in monitors]
    monitor_services.record_results(region_name="default", checked=checked, now=at)
    events.drain(now=at)


def tick(at: datetime) -> dict[str, int]:
    with time_machine.travel(at, tick=False):
        return services.tick(now=at)


def notifications(kind: str | None = None) -> list[Notification]:
    rows = Notification.objects.order_by("pk")
    return list(rows.filter(kind=kind) if kind else rows)


def test_an_alert_waits_group_wait_then_notifies_once_and_repeats_after_repeat_interval(channel):
    make_rule(channel)
    api = monitor()
    observe([api], "ok", T0)
    observe([api], "down", T0 + timedelta(seconds=1))
    assert Alert.objects.get().status == "firing"
    tick(T0 + timedelta(seconds=10))
    assert notifications() == []  # group_wait: 30 s
    tick(T0 + timedelta(seconds=31))
    [first] = notifications()
    assert first.kind == "firing" and first.message["title"] == "api is down" and "connection refused" in first.message["text"]
    for minute in range(1, 60, 5):  # group_interval flushes with nothing new: no repeat before repeat_interval
        tick(T0 + timedelta(minutes=minute, seconds=31))
    assert len(notifications()) == 1
    tick(T0 + timedelta(hours=1, minutes=6))
    assert len(notifications()) == 2  # the repeat


def test_recovery_resolves_after_the_clear_time_and_says_so(channel):
    make_rule(channel)
    api = monitor()
    observe([api], "ok", T0)
    observe([api], "down", T0 + timedelta(seconds=1))
    tick(T0 + timedelta(seconds=31))
    observe([api], "ok", T0 + timedelta(minutes=2))
    tick(T0 + timedelta(minutes=5))
    assert Alert.objects.get().status == "firing"  # clear for 3 min of the 5 it must be
    tick(T0 + timedelta(minutes=7, seconds=1))
    assert Alert.objects.get().status == "resolved"
    tick(T0 + timedelta(minutes=12))
    assert [n.kind for n in notifications()] == ["firing", "resolved"]
    assert notifications()[-1].message["title"] == "Resolved: api is down"


def test_a_blip_shorter_than_the_duration_never_notifies(channel):
    make_rule(channel, name="error rate > 5% for 5 minutes", for_seconds=300)
    api = monitor()
    observe([api], "ok", T0)
    observe([api], "down", T0 + timedelta(minutes=1))
    tick(T0 + timedelta(minutes=3))
    assert Alert.objects.get().status == "pending"
    observe([api], "ok", T0 + timedelta(minutes=4))
    for minute in range(4, 20):
        tick(T0 + timedelta(minutes=minute))
    assert notifications() == [] and Alert.objects.get().status == "resolved"
    # Held for the whole duration: it fires.
    observe([api], "down", T0 + timedelta(minutes=30))
    tick(T0 + timedelta(minutes=35, seconds=1))
    assert Alert.objects.exclude(status="resolved").get().status == "firing"
    tick(T0 + timedelta(minutes=35, seconds=32))
    assert [n.kind for n in notifications()] == ["firing"]
    assert ("Held for", "5 min") in [tuple(f) for f in notifications()[0].message["fields"]]


def test_a_storm_of_1000_monitors_is_a_handful_of_notifications(channel):
    make_rule(channel, group_by=["component"])
    components = [Component.objects.create(name=f"component-{i}") for i in range(3)]
    monitors = Monitor.objects.bulk_create([
        Monitor(name=f"m-{i}", kind="tcp", target="127.0.0.1:1", retries=0, recovery_confirmations=1, component=components[i % 3])
        for i in range(1000)])
    observe(monitors, "ok", T0)
    observe(monitors, "down", T0 + timedelta(seconds=1))
    assert Alert.objects.filter(status="firing").count() == 1000
    for second in range(2, 32):
        tick(T0 + timedelta(seconds=second))
    sent = notifications()
    assert len(sent) <= 5, len(sent)
    assert len(sent) == 3  # one per component group
    assert sum(int(dict(map(tuple, n.message["fields"]))["Alerts"]) for n in sent) == 1000


def test_a_silence_holds_back_matching_alerts_only(channel):
    make_rule(channel, group_by=["monitor"])
    api, web = monitor("api"), monitor("web")
    Silence.objects.create(matchers=[{"name": "monitor", "value": "a.i", "regex": True}], starts_at=T0, ends_at=T0 + timedelta(hours=1),
                           comment="deploying the API")
    observe([api, web], "ok", T0)
    observe([api, web], "down", T0 + timedelta(seconds=1))
    tick(T0 + timedelta(seconds=31))
    assert [n.message["title"] for n in notifications()] == ["web is down"]
    tick(T0 + timedelta(hours=1, minutes=1))  # the silence ended
    titles = [n.message["title"] for n in notifications()]
    assert titles[0] == "web is down" and "api is down" in titles[1:]


def test_maintenance_suppresses_and_flapping_is_held_back(channel, responder):
    from incidents import services as incident_services
    from incidents.models import Maintenance

    make_rule(channel, group_by=["monitor"])
    api_component = Component.objects.create(name="API")
    api = monitor("api", component=api_component)
    window = Maintenance(title="upgrade", starts_at=T0 - timedelta(minutes=1), ends_at=T0 + timedelta(hours=1))
    incident_services.maintenance_save(maintenance=window, components=[api_component], by=responder, now=T0)
    observe([api], "ok", T0)
    observe([api], "down", T0 + timedelta(seconds=1))
    tick(T0 + timedelta(seconds=31))
    assert notifications() == []
    flappy = monitor("flappy")
    Monitor.objects.filter(pk=flappy.pk).update(is_flapping=True)
    flappy.refresh_from_db()
    services.on_state_change(monitor=flappy, new_state="down", reason="x", now=T0 + timedelta(minutes=2))
    tick(T0 + timedelta(minutes=3))
    assert notifications() == []


def test_a_critical_alert_on_a_component_inhibits_its_warnings(channel):
    component = Component.objects.create(name="Payments")
    make_rule(channel, name="critical down", severity="critical", states=["down"])
    make_rule(channel, name="warning degraded", severity="warning", states=["degraded", "down"], group_by=["monitor"])
    api = monitor("payments-api", component=component)
    observe([api], "ok", T0)
    observe([api], "down", T0 + timedelta(seconds=1))
    tick(T0 + timedelta(seconds=31))
    assert [n.message["severity"] for n in notifications()] == ["critical"]


def test_acknowledging_by_the_signed_link_stops_repeats(client, channel):
    make_rule(channel)
    api = monitor()
    observe([api], "ok", T0)
    observe([api], "down", T0 + timedelta(seconds=1))
    tick(T0 + timedelta(seconds=31))
    link = dict(map(tuple, notifications()[0].message["links"]))["Acknowledge"]
    path = link.split("://", 1)[1].split("/", 1)[1]
    with time_machine.travel(T0 + timedelta(minutes=1)):
        page = client.get(f"/{path}")
        assert page.status_code == 200 and "api is down" in page.content.decode()
        assert client.post(f"/{path}").status_code == 200
    assert Alert.objects.get().status == "acknowledged"
    tick(T0 + timedelta(hours=2))
    assert len(notifications()) == 1  # no repeat for an acknowledged alert
    assert client.get(f"/{path[:-6]}xxxxx/").status_code == 400


def test_rule_errors_name_the_field():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        AlertRule(name="x", states=["sideways"], monitor_kinds=["nope"]).full_clean()
    assert "states" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        Silence(matchers=[{"name": "monitor", "value": "(", "regex": True}], starts_at=T0, ends_at=T0 + timedelta(hours=1), comment="c").full_clean()
    assert "not a valid regular expression" in str(error.value)


def test_an_admin_acknowledges_from_the_alert_list(client, admin_user, channel):
    make_rule(channel)
    api = monitor()
    observe([api], "ok", T0)
    observe([api], "down", T0 + timedelta(seconds=1))
    client.force_login(admin_user)
    assert client.get("/admin/alerting/alert/").status_code == 200
    response = client.post("/admin/alerting/alert/", {"action": "acknowledge_alerts", "_selected_action": [Alert.objects.get().pk]}, follow=True)
    assert "1 alert(s) acknowledged" in response.content.decode()
    alert = Alert.objects.get()
    assert alert.status == "acknowledged" and alert.acknowledged_by == admin_user


def test_escalation_runs_its_steps_in_order_and_stops_on_acknowledgement(channel, django_user_model):
    from datetime import date

    from django.core import mail

    from alerting.models import EscalationPolicy, EscalationStep, OnCallMember, OnCallSchedule

    pager = Channel.objects.create(name="pager", kind="email", config={"to": ["pager@example.com"]})
    lead = django_user_model.objects.create_user("lead", email="lead@example.com")
    schedule = OnCallSchedule.objects.create(name="primary", rotation_start=date(2026, 11, 2))
    OnCallMember.objects.create(schedule=schedule, user=lead)
    policy = EscalationPolicy.objects.create(name="api", repeat=0)
    first = EscalationStep.objects.create(policy=policy, position=0, wait_minutes=10)
    first.channels.add(pager)
    EscalationStep.objects.create(policy=policy, position=1, wait_minutes=10, schedule=schedule)
    make_rule(channel, escalation_policy=policy)
    api = monitor()
    observe([api], "ok", T0)
    observe([api], "down", T0 + timedelta(seconds=1))
    tick(T0 + timedelta(seconds=31))
    kinds = [(n.kind, n.channel.name if n.channel else n.to_email) for n in notifications()]
    assert kinds == [("firing", "ops-mail"), ("escalation", "pager")]
    tick(T0 + timedelta(minutes=5))
    assert len(notifications()) == 2  # step 1 waits 10 minutes
    tick(T0 + timedelta(minutes=10, seconds=32))
    assert [(n.kind, n.to_email) for n in notifications()][-1] == ("escalation", "lead@example.com")
    fields = dict(map(tuple, notifications()[-1].message["fields"]))
    assert fields["On call"] == "lead (primary)" and fields["Escalation"] == "step 2 of 2"
    from alerting.tasks import deliver_notifications

    deliver_notifications()
    assert "lead@example.com" in [m.to[0] for m in mail.outbox]
    assert len(notifications()) == 3 and all(n.status == "sent" for n in notifications())


def test_an_acknowledged_alert_is_not_escalated_further(channel):
    from alerting.models import EscalationPolicy, EscalationStep

    pager = Channel.objects.create(name="pager", kind="email", config={"to": ["pager@example.com"]})
    policy = EscalationPolicy.objects.create(name="api", repeat=3)
    step = EscalationStep.objects.create(policy=policy, position=0, wait_minutes=5)
    step.channels.add(pager)
    make_rule(channel, escalation_policy=policy)
    api = monitor()
    observe([api], "ok", T0)
    observe([api], "down", T0 + timedelta(seconds=1))
    tick(T0 + timedelta(seconds=31))
    tick(T0 + timedelta(minutes=5, seconds=32))
    assert [n.kind for n in notifications()] == ["firing", "escalation", "escalation"]
    services.acknowledge(alerts=Alert.objects.all(), by=None, now=T0 + timedelta(minutes=6))
    for minute in range(6, 40, 5):
        tick(T0 + timedelta(minutes=minute, seconds=33))
    assert [n.kind for n in notifications()] == ["firing", "escalation", "escalation"]
