"""Alerting: alerts are raised and resolved here; their groups flush into the outbox.

Monitors (`on_state_change`), SLO burn rates and inbound integrations (Alertmanager) all
raise, clear and resolve alerts through `alert_raise`, `alert_clear` and `alert_resolve`.
`tick` (beat, every second) promotes pending alerts whose duration has passed, resolves
alerts whose condition has been clear long enough, and flushes due groups
Alertmanager-style (group_wait, group_interval, repeat_interval) into Notification rows,
which `deliver` sends with retries. Silences, maintenance, flapping and inhibition (a
critical alert on a component mutes its warnings) hold notifications back, never the alert
rows.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q

from alerting.apprise_urls import network_target as apprise_network_target
from alerting.messages import ACK_SALT, AlertMessage, build_message, channel_test_message, stakeholder_message
from alerting.models import (
    Alert,
    AlertGroup,
    AlertRule,
    Channel,
    EscalationStep,
    Integration,
    Notification,
    OnCallSchedule,
    Severity,
    SeverityPaging,
    Silence,
)
from alerting.transports import TransportError
from alerting.transports import send as transport_send
from core import outbox
from core import secrets as secret_values
from core.egress import allow_for, refuse_outside
from core.live import OPS_GROUP, publish_after_commit
from core.metrics import count_delivery
from core.secrets import MissingSecret, is_env_reference
from core.services import audit_record
from incidents import selectors as incident_selectors
from incidents import services as incident_services
from incidents.models import Incident, StakeholderUpdate
from monitors.selectors import monitor_ids_under_maintenance

log = logging.getLogger("vigil.alerting")


# --- Rules and alerts -------------------------------------------------------------------------


def enabled_rules() -> list[AlertRule]:
    """Every enabled rule with what rules_for and rule_notifies read, loaded once."""
    return list(AlertRule.objects.filter(enabled=True, severity_paging__isnull=True).prefetch_related(
        "monitors", "components", "tags", "channels", "escalation_policy__steps"))


def rules_for(monitor: Any, rules: list[AlertRule] | None = None) -> list[AlertRule]:
    """The enabled rules that cover the monitor (pass enabled_rules() to match many monitors with one read)."""
    matched = []
    tag_ids = {t.pk for t in monitor.tags.all()}
    # A severity policy's rule pages for incidents only, never for a monitor (enabled_rules() leaves them out too).
    for rule in (rules if rules is not None else AlertRule.objects.filter(enabled=True, severity_paging__isnull=True)
                 .prefetch_related("monitors", "components", "tags")):
        if rule.monitor_kinds and monitor.kind not in rule.monitor_kinds:
            continue
        chosen = {m.pk for m in rule.monitors.all()}
        if chosen and monitor.pk not in chosen:
            continue
        components = {c.pk for c in rule.components.all()}
        if components and monitor.component_id not in components:
            continue
        tags = {t.pk for t in rule.tags.all()}
        if tags and not tags & tag_ids:
            continue
        matched.append(rule)
    return matched


def rule_notifies(rule: AlertRule) -> bool:
    """Someone hears of the rule's alerts: an enabled channel, or an escalation policy with a step."""
    return any(channel.enabled for channel in rule.channels.all()) or bool(rule.escalation_policy and rule.escalation_policy.steps.all())


def nobody_notified_when_down(monitor: Any, rules: list[AlertRule]) -> bool:
    """A down monitor no enabled rule routes to anyone: the dashboard warns about it."""
    return not any("down" in rule.states and rule_notifies(rule) for rule in rules_for(monitor, rules))


DEFAULT_RULE_NAME = "Any monitor down for 1 minute"


def monitor_route_name(monitor_name: str) -> str:
    return f"{monitor_name}: down"[:120]


def monitor_route_rule(monitor: Any) -> AlertRule | None:
    """The monitor's own route rule: the one named for it, or, after a rename, the "<old name>: down"
    rule that routes this monitor alone."""
    rule = AlertRule.objects.filter(name=monitor_route_name(monitor.name)).first()
    if rule is None and monitor.pk is not None:
        # Counted before the filter on monitors: after it, the count would see only the joined row.
        rule = (AlertRule.objects.annotate(routed=Count("monitors")).filter(routed=1)
                .filter(monitors=monitor, name__endswith=": down", states=["down"]).order_by("pk").first())
    return rule


@transaction.atomic
def monitor_route_set(*, monitor: Any, channels: list[Channel], by: AbstractBaseUser | AnonymousUser | None) -> AlertRule | None:
    """The monitor form's alert route: a rule of the monitor's own (down for a minute -> these
    channels); no channels removes it."""
    name = monitor_route_name(monitor.name)
    rule = monitor_route_rule(monitor)
    if not channels:
        if rule is not None:
            audit_record(actor=by, action="delete", target=rule, source="console")
            rule.delete()
        return None
    if rule is None:
        rule = AlertRule(name=name, states=["down"], for_seconds=60, severity=Severity.CRITICAL)
        rule.full_clean()
        rule.save()
    elif rule.name != name:  # the monitor was renamed (here or anywhere else): its rule follows
        rule.name = name
        rule.full_clean()
        rule.save(update_fields=["name"])
    rule.monitors.set([monitor])
    rule.channels.set(channels)
    audit_record(actor=by, action="update", target=rule, source="console")
    return rule


@transaction.atomic
def default_rule_create(*, channel: Channel, by: AbstractBaseUser | AnonymousUser | None) -> AlertRule:
    """The set-up checklist's offer: any monitor down for a minute alerts this channel (made once; a second call adds the channel)."""
    rule, created = AlertRule.objects.get_or_create(
        name=DEFAULT_RULE_NAME, defaults={"states": ["down"], "for_seconds": 60, "severity": Severity.CRITICAL})
    if created:
        rule.full_clean()
    rule.channels.add(channel)
    audit_record(actor=by, action="create" if created else "update", target=rule, source="console")
    return rule


def for_seconds(rule: AlertRule, monitor: Any, at: datetime) -> int:
    """How long the state must hold: the rule's watch duration within its watch window after a
    deploy of the monitor's component (or of a service naming no component), else for_seconds."""
    if rule.deploy_watch_for_seconds is None or monitor is None:
        return rule.for_seconds
    window = timedelta(minutes=rule.deploy_watch_minutes)
    component_ids = [monitor.component_id] if monitor.component_id else []
    if incident_selectors.deploys_between(at - window, at, component_ids=component_ids).exists():
        return min(rule.for_seconds, rule.deploy_watch_for_seconds)
    return rule.for_seconds


def alert_labels(rule: AlertRule, monitor: Any) -> dict[str, str]:
    labels = {
        "rule": rule.name,
        "monitor": monitor.name,
        "kind": monitor.kind,
        "component": monitor.component.name if monitor.component_id else "",
        "severity": rule.severity,
    }
    labels.update({f"tag_{t.name}": "true" for t in monitor.tags.all()})
    labels.update(rule.labels or {})
    return labels


def _group_key(rule: AlertRule, labels: dict[str, str]) -> str:
    return ",".join(f"{name}={labels.get(name, '')}" for name in (rule.group_by or [])) or "all"


def _schedule_flush(rule: AlertRule, key: str, now: datetime) -> AlertGroup:
    """Make the alert's group flush: it has news (an alert fired or resolved)."""
    group, _created = AlertGroup.objects.get_or_create(rule=rule, group_key=key, defaults={"created_at": now})
    if group.next_flush_at is None:
        # A new group waits group_wait so that a storm lands in one notification; a
        # group that already notified waits for its next group_interval.
        wait = rule.group_wait_seconds if group.last_notified_at is None else 0
        first = now + timedelta(seconds=wait)
        if group.last_notified_at is not None:
            first = max(first, group.last_notified_at + timedelta(seconds=rule.group_interval_seconds))
        group.next_flush_at = first
        group.save(update_fields=["next_flush_at"])
    return group


# --- Raising and resolving: the one way in for monitors, SLO burn rates and integrations --------
#
# Every alert goes through the same grouping, silences, maintenance, inhibition and
# escalation, because each one is raised, cleared and resolved here. `key` identifies the
# condition (one open alert per key): "rule:3:monitor:7", "slo:2:60:5", "am:1:<fingerprint>".


def _open_alert(key: str) -> Alert | None:
    return Alert.objects.select_for_update().filter(dedup_key=key).exclude(status=Alert.Status.RESOLVED).first()


@transaction.atomic(savepoint=False)
def alert_raise(*, rule: AlertRule, key: str, labels: dict[str, str], summary: str, value: str = "", severity: str | None = None,
                monitor: Any = None, first_seen: datetime | None = None, links: list[tuple[str, str]] | None = None,
                annotations: dict[str, str] | None = None, now: datetime) -> Alert:
    """Open the alert for `key`, or refresh the open one (seen again, no longer clearing).

    A monitor's alert waits pending for the rule's duration (`for_seconds` is how long a
    monitor state must hold; `tick` promotes it); an SLO burn rate or an Alertmanager alert
    held its condition before it was raised, so it fires at once. Its group then notifies
    the rule's channels, unless a silence, maintenance or inhibition holds it back."""
    alert = _open_alert(key)
    if alert is not None:
        alert.last_seen, alert.cleared_at, alert.summary, alert.value = now, None, summary[:300], value[:300]
        alert.count += 1
        changed = ["last_seen", "cleared_at", "summary", "value", "count"]
        # A source that says how bad it is now (Sentry's warning becoming critical) is believed.
        if severity is not None and severity != alert.severity:
            alert.severity = severity
            changed.append("severity")
        if links is not None:
            alert.links = [list(link) for link in links]
            changed.append("links")
        if annotations is not None:
            alert.annotations = annotations
            changed.append("annotations")
        alert.save(update_fields=changed)
        return alert
    pending = monitor is not None and for_seconds(rule, monitor, now) > 0
    alert = Alert.objects.create(
        rule=rule, dedup_key=key, group_key=_group_key(rule, labels), status=Alert.Status.PENDING if pending else Alert.Status.FIRING,
        severity=severity or rule.severity, summary=summary[:300], labels=labels, monitor=monitor, value=value[:300],
        first_seen=first_seen or now, last_seen=now, fired_at=None if pending else now, links=[list(link) for link in links or []],
        annotations=annotations or {},
    )
    if not pending:
        _schedule_flush(rule, alert.group_key, now)
    return alert


@transaction.atomic(savepoint=False)
def alert_clear(*, key: str, now: datetime) -> Alert | None:
    """The condition behind `key` stopped holding. A pending alert never fired, so it resolves
    without a word; a firing one resolves once it has stayed clear for the rule's resolve_after
    (`tick`), so a blip does not page twice."""
    alert = _open_alert(key)
    if alert is None:
        return None
    if alert.status == Alert.Status.PENDING:
        _resolve(alert, now=now, cleared_at=now)
    elif alert.cleared_at is None:
        alert.cleared_at = now
        alert.save(update_fields=["cleared_at"])
    return alert


@transaction.atomic(savepoint=False)
def alert_resolve(*, key: str, now: datetime, cleared_at: datetime | None = None) -> Alert | None:
    """Resolve the open alert for `key` now; its group owes the channels a resolved notice.

    `cleared_at` is when the condition ended, if the source says (Alertmanager's endsAt)."""
    alert = _open_alert(key)
    if alert is not None:
        _resolve(alert, now=now, cleared_at=cleared_at or alert.cleared_at or now)
    return alert


def _resolve(alert: Alert, *, now: datetime, cleared_at: datetime | None) -> None:
    # Resolved at `now`, when Vigil learns of it, so the group still owes its notice even when
    # the condition ended before the last notification went out.
    heard_of = alert.status != Alert.Status.PENDING
    alert.status, alert.resolved_at, alert.cleared_at = Alert.Status.RESOLVED, now, cleared_at
    alert.save(update_fields=["status", "resolved_at", "cleared_at"])
    if heard_of and alert.rule is not None:
        _schedule_flush(alert.rule, alert.group_key, now)


def _fire(alert: Alert, *, now: datetime) -> None:
    alert.status, alert.fired_at = Alert.Status.FIRING, now
    alert.save(update_fields=["status", "fired_at"])
    if alert.rule is not None:
        _schedule_flush(alert.rule, alert.group_key, now)


def on_state_change(*, monitor: Any, new_state: str, reason: str, now: datetime, rules: list[AlertRule] | None = None) -> list[Alert]:
    """A monitor changed state: each matching rule raises its alert when the new state fires
    it, and clears it otherwise. `rules`: enabled_rules() when the caller has read them already."""
    touched = []
    for rule in rules_for(monitor, rules):
        key = f"rule:{rule.pk}:monitor:{monitor.pk}"
        if new_state in rule.states:
            # What the check saw ("connection refused", "p95 4.2 s > 4 s") says more than the verdict.
            touched.append(alert_raise(rule=rule, key=key, labels=alert_labels(rule, monitor), summary=f"{monitor.name} is {new_state}",
                                       value=monitor.last_message or reason, monitor=monitor, now=now))
        elif (cleared := alert_clear(key=key, now=now)) is not None:
            touched.append(cleared)
    return touched


# --- The beat: promote, auto-resolve, flush --------------------------------------------------------


def tick(*, now: datetime) -> dict[str, int]:
    """Promote, auto-resolve and flush. Idempotent; run every second by beat."""
    with transaction.atomic():
        promoted = _promote_pending(now)
        resolved = _resolve_cleared(now)
        if promoted or resolved:
            publish_after_commit(OPS_GROUP, topics=["alerts"])
    flushed = 0
    for group_id in AlertGroup.objects.filter(next_flush_at__lte=now).values_list("pk", flat=True)[:500]:
        flushed += flush_group(group_id=group_id, now=now)
    flushed += escalate_due(now=now)
    return {"promoted": promoted, "resolved": resolved, "notifications": flushed}


def _promote_pending(now: datetime) -> int:
    """Fire pending alerts whose monitor state has held for the rule's duration."""
    promoted = 0
    pending = Alert.objects.select_for_update(skip_locked=True, of=("self",)).filter(status=Alert.Status.PENDING).select_related("rule", "monitor")
    for alert in pending:
        rule = alert.rule
        if rule is None or alert.first_seen + timedelta(seconds=for_seconds(rule, alert.monitor, alert.first_seen)) > now:
            continue
        if alert.monitor is not None and alert.monitor.state not in rule.states:
            continue  # the change that clears it is on its way
        _fire(alert, now=now)
        promoted += 1
    return promoted


def _resolve_cleared(now: datetime) -> int:
    """Resolve alerts whose condition has stayed clear for the rule's resolve_after."""
    resolved = 0
    cleared = Alert.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        status__in=[Alert.Status.FIRING, Alert.Status.ACKNOWLEDGED], cleared_at__isnull=False).select_related("rule")
    for alert in cleared:
        wait = alert.rule.resolve_after_seconds if alert.rule else 300
        if alert.cleared_at and alert.cleared_at + timedelta(seconds=wait) <= now:
            _resolve(alert, now=now, cleared_at=alert.cleared_at)
            resolved += 1
    return resolved


# --- What is held back --------------------------------------------------------------------------


def _held_back(alerts: list[Alert], now: datetime) -> set[int]:
    """Alerts silenced, under maintenance, flapping (when the rule says so) or inhibited."""

    held: set[int] = set()
    silences = list(Silence.objects.filter(starts_at__lte=now, ends_at__gt=now))
    maintenance = monitor_ids_under_maintenance([a.monitor_id for a in alerts if a.monitor_id], suppressing_alerts=True)
    for alert in alerts:
        if any(s.matches(alert.labels) for s in silences):
            held.add(alert.pk)
        elif alert.monitor_id in maintenance:
            held.add(alert.pk)
        elif alert.rule and alert.rule.hold_flapping and alert.monitor is not None and alert.monitor.is_flapping:
            held.add(alert.pk)
    # Inhibition: a firing critical alert on a component mutes that component's warnings.
    components = {a.labels.get("component") for a in Alert.objects.filter(
        status__in=[Alert.Status.FIRING, Alert.Status.ACKNOWLEDGED], severity=Severity.CRITICAL).only("labels") if a.labels.get("component")}
    for alert in alerts:
        if alert.severity != Severity.CRITICAL and alert.labels.get("component") in components:
            held.add(alert.pk)
    return held


# --- Flushing groups into the outbox -------------------------------------------------------------


@dataclass
class GroupAlerts:
    """A group's alerts as one flush sees them."""

    alerts: list[Alert]  # open, and resolved within the last group interval
    firing: list[Alert]  # firing and not held back: what a notification names
    acknowledged: list[Alert]
    resolved_unheard: list[Alert]  # resolved since the last notification, not held back

    @property
    def any_firing(self) -> bool:
        """Firing, held back or not: the group stays open and escalation goes on."""
        return any(a.status == Alert.Status.FIRING for a in self.alerts)

    def fingerprint(self) -> str:
        """What a notification would say: the same content only repeats after the repeat interval."""
        said = sorted(f"{a.pk}:{a.status}" for a in self.firing + self.resolved_unheard)
        return hashlib.sha256(",".join(said).encode()).hexdigest()


def flush_group(*, group_id: int, now: datetime) -> int:
    """Notify a due group's channels of what changed since its last notification, then decide
    when it flushes next. Returns the notifications queued."""
    with transaction.atomic():
        group = AlertGroup.objects.select_for_update(skip_locked=True).select_related("rule").filter(pk=group_id, next_flush_at__lte=now).first()
        if group is None:
            return 0
        alerts = _read_group(group, now)
        made = _notify_group(group, alerts, now)
        _schedule_next_flush(group, alerts, now)
        group.save(update_fields=["last_notified_at", "last_fingerprint", "next_flush_at", "next_escalation_at", "escalation_step"])
        return made


def _read_group(group: AlertGroup, now: datetime) -> GroupAlerts:
    recent = now - timedelta(seconds=group.rule.group_interval_seconds + 60)
    alerts = list(Alert.objects.filter(rule=group.rule, group_key=group.group_key).filter(
        Q(status__in=[Alert.Status.FIRING, Alert.Status.ACKNOWLEDGED]) | Q(status=Alert.Status.RESOLVED, resolved_at__gte=recent)
    ).select_related("monitor", "rule").order_by("first_seen", "pk"))
    held = _held_back(alerts, now)
    last = group.last_notified_at
    return GroupAlerts(
        alerts=alerts,
        firing=[a for a in alerts if a.status == Alert.Status.FIRING and a.pk not in held],
        acknowledged=[a for a in alerts if a.status == Alert.Status.ACKNOWLEDGED],
        resolved_unheard=[a for a in alerts if a.status == Alert.Status.RESOLVED and a.pk not in held
                          and (last is None or (a.resolved_at is not None and a.resolved_at > last))],
    )


def _notify_group(group: AlertGroup, alerts: GroupAlerts, now: datetime) -> int:
    """Queue the firing notice (and start escalation) when what fires changed or is due again;
    else the resolved notice once nothing fires."""
    rule = group.rule
    fingerprint = alerts.fingerprint()
    repeat_due = group.last_notified_at is None or now >= group.last_notified_at + timedelta(seconds=rule.repeat_interval_seconds)
    made = 0
    if alerts.firing and (fingerprint != group.last_fingerprint or repeat_due):
        made = _enqueue(group, Notification.Kind.FIRING, alerts.firing, now)
        if rule.escalation_policy_id and group.next_escalation_at is None and group.escalation_step == 0:
            made += _escalate(group, alerts.firing, now)
    elif _resolved_notice_due(group, alerts):
        made = _enqueue(group, Notification.Kind.RESOLVED, alerts.resolved_unheard, now)
    if made:
        group.last_notified_at, group.last_fingerprint = now, fingerprint
    return made


def _resolved_notice_due(group: AlertGroup, alerts: GroupAlerts) -> bool:
    # Only a group that told the channels something firing tells them it resolved, and not
    # while someone works on an acknowledged alert of it.
    return (not alerts.firing and bool(alerts.resolved_unheard) and not alerts.acknowledged
            and group.rule.notify_resolved and group.last_notified_at is not None)


def _schedule_next_flush(group: AlertGroup, alerts: GroupAlerts, now: datetime) -> None:
    still_open = alerts.any_firing or bool(alerts.acknowledged)
    group.next_flush_at = now + timedelta(seconds=group.rule.group_interval_seconds) if still_open else None
    if not alerts.any_firing:
        # Everything acknowledged or resolved: escalation stops; a new storm starts over.
        group.next_escalation_at = None
        if not alerts.acknowledged:
            group.escalation_step = 0


def _escalate(group: AlertGroup, firing: list[Alert], now: datetime) -> int:
    """Run the group's next escalation step: its channels, and email whoever is on call."""
    policy = group.rule.escalation_policy
    steps = list(policy.steps.prefetch_related("channels").select_related("schedule")) if policy else []
    total = len(steps) * ((policy.repeat if policy else 0) + 1)
    if not steps or group.escalation_step >= total:
        group.next_escalation_at = None
        return 0
    step = steps[group.escalation_step % len(steps)]
    where = f"step {group.escalation_step % len(steps) + 1} of {len(steps)}"
    if policy and policy.repeat:
        where += f", round {group.escalation_step // len(steps) + 1}"
    message = build_message(group.rule, group, firing, kind=Notification.Kind.ESCALATION, now=now).with_fact("Escalation", where)
    rows = [Notification(channel=channel, group=group, kind=Notification.Kind.ESCALATION, message=message.to_dict(), next_attempt_at=now, created_at=now)
            for channel in step.channels.all() if channel.enabled]
    if step.schedule is not None:
        rows += _page_on_call(step.schedule, step, group, message, now)
    Notification.objects.bulk_create(rows)
    if rows:
        transaction.on_commit(_deliver_soon)
    group.escalation_step += 1
    group.next_escalation_at = now + timedelta(minutes=step.wait_minutes) if group.escalation_step < total else None
    return len(rows)


def _page_on_call(schedule: OnCallSchedule, step: EscalationStep, group: AlertGroup, message: AlertMessage, now: datetime) -> list[Notification]:
    """An email to whoever is on call on the step's schedule (nobody: a warning in the log)."""
    person = schedule.on_call(now)
    if person is None or not person.email:
        log.warning("escalation step %s: nobody with an email is on call on %s", step, schedule)
        return []
    message = message.with_fact("On call", f"{person.get_username()} ({schedule.name})")
    return [Notification(channel=None, to_email=person.email, group=group, kind=Notification.Kind.ESCALATION,
                         message=message.to_dict(), next_attempt_at=now, created_at=now)]


def escalate_due(*, now: datetime) -> int:
    made = 0
    for group_id in AlertGroup.objects.filter(next_escalation_at__lte=now).values_list("pk", flat=True)[:500]:
        with transaction.atomic():
            group = AlertGroup.objects.select_for_update(skip_locked=True).select_related("rule").filter(
                pk=group_id, next_escalation_at__lte=now).first()
            if group is None:
                continue
            firing = list(Alert.objects.filter(rule=group.rule, group_key=group.group_key, status=Alert.Status.FIRING)
                          .select_related("monitor", "rule").order_by("first_seen", "pk"))
            held = _held_back(firing, now)
            firing = [a for a in firing if a.pk not in held]
            if firing:
                made += _escalate(group, firing, now)
            else:
                group.next_escalation_at = None  # acknowledged (or resolved): stop
            group.save(update_fields=["escalation_step", "next_escalation_at"])
    return made


def _enqueue(group: AlertGroup, kind: str, alerts: list[Alert], now: datetime) -> int:
    rule = group.rule
    message = build_message(rule, group, alerts, kind=kind, now=now).to_dict()
    channels = list(rule.channels.filter(enabled=True))
    Notification.objects.bulk_create([
        Notification(channel=channel, group=group, kind=kind, message=message, next_attempt_at=now, created_at=now) for channel in channels
    ])
    if channels:
        transaction.on_commit(_deliver_soon)
    return len(channels)


def _deliver_soon() -> None:
    from alerting.tasks import deliver_notifications  # tasks imports this module

    try:
        deliver_notifications.delay()
    except Exception as exc:  # noqa: BLE001 - beat runs delivery every few seconds anyway
        log.warning("notification delivery not queued (%s); the periodic run sends it", exc)


# --- Acknowledgement -----------------------------------------------------------------------------


class AckError(Exception):
    pass


def group_for_ack_token(token: str) -> AlertGroup:
    """The group an acknowledge link names; AckError says why the link does not work."""
    try:
        payload = signing.loads(token, salt=ACK_SALT, max_age=7 * 24 * 3600)
    except signing.BadSignature:
        raise AckError("This acknowledge link is not valid (or older than 7 days); acknowledge in the admin instead.") from None
    group = AlertGroup.objects.select_related("rule").filter(pk=payload.get("g")).first()
    if group is None:
        raise AckError("These alerts no longer exist.")
    return group


@transaction.atomic
def acknowledge_group(*, group: AlertGroup, by: Any, now: datetime) -> int:
    return acknowledge(alerts=Alert.objects.filter(rule=group.rule, group_key=group.group_key, status=Alert.Status.FIRING), by=by, now=now)


def acknowledge(*, alerts: Any, by: Any, now: datetime) -> int:
    user = by if by is not None and getattr(by, "is_authenticated", False) else None
    count = 0
    ids = list(alerts.values_list("pk", flat=True))
    incidents = set()
    for alert in Alert.objects.select_for_update(of=("self",)).filter(pk__in=ids, status=Alert.Status.FIRING):
        alert.status, alert.acknowledged_at, alert.acknowledged_by = Alert.Status.ACKNOWLEDGED, now, user
        alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
        count += 1
        if alert.labels.get("kind") == "incident_declared" and str(alert.labels.get("incident", "")).isdigit():
            incidents.add(int(alert.labels["incident"]))
    # An acknowledged page answers for its incident: the incident's acknowledge target is met.
    for incident_id in sorted(incidents):
        if Incident.objects.filter(pk=incident_id, acknowledged_at__isnull=True).exists():
            incident_services.incident_acknowledge(incident_id=incident_id, by=user, now=now)
    if count:
        publish_after_commit(OPS_GROUP, topics=["alerts"])
    return count


@transaction.atomic
def resolve(*, alerts: Any, by: Any, now: datetime) -> int:
    """Close open alerts by hand (a false positive, or fixed while the check still waits to recover).

    Their groups flush again, so the channels hear "resolved" as they would for an auto-resolve."""
    count = 0
    ids = list(alerts.values_list("pk", flat=True))
    for alert in Alert.objects.select_for_update(of=("self",)).filter(pk__in=ids, status__in=Alert.OPEN).select_related("rule"):
        _resolve(alert, now=now, cleared_at=alert.cleared_at or now)
        count += 1
    if count:
        publish_after_commit(OPS_GROUP, topics=["alerts"])
    return count


# --- Severity policy: paging on declare, and breached response targets ------------------------
#
# Incidents sit below alerting, so they never call in here: alerting consumes their
# incident.changed events (alerting/reactions.py) and checks their targets on beat.

INCIDENT_KEY_PREFIX = "incident:"
TARGET_NAMES = {"ack": "acknowledge", "first_update": "first update"}
INCIDENT_ALERT_SEVERITY = {"critical": Severity.CRITICAL, "major": Severity.CRITICAL, "minor": Severity.WARNING, "none": Severity.INFO}


def severity_paging(impact: str) -> SeverityPaging:
    """The severity's paging row and its own rule (made on first use: it pages nobody until given channels)."""
    paging = SeverityPaging.objects.select_related("rule").filter(severity=impact).first()
    if paging is not None:
        return paging
    if impact not in Incident.SEVERITY:
        raise ValueError(f"severity must be one of {', '.join(Incident.SEVERITY)}, not {impact!r}")
    name = f"Incidents declared {Incident.SEVERITY[impact]} (severity policy)"
    rule, _ = AlertRule.objects.get_or_create(name=name, defaults={
        "states": ["down"], "severity": INCIDENT_ALERT_SEVERITY[impact], "group_by": ["incident"], "group_wait_seconds": 0,
        "runbook_text": "Open the incident console, take command, acknowledge and post the first update."})
    return SeverityPaging.objects.create(severity=impact, rule=rule)


@transaction.atomic
def severity_paging_save(*, impact: str, channels: list[Channel], escalation_policy: Any) -> SeverityPaging:
    """Who is paged on declaring an incident of this severity (config as code and the admin call this)."""
    paging = severity_paging(impact)
    rule = paging.rule
    rule.escalation_policy = escalation_policy
    rule.full_clean()
    rule.save()
    rule.channels.set(channels)
    return paging


def _incident_labels(incident: Incident, paging: SeverityPaging, kind: str) -> dict[str, str]:
    return {"rule": paging.rule.name, "incident": str(incident.pk), "severity": INCIDENT_ALERT_SEVERITY[incident.impact],
            "sev": incident.severity, "kind": kind,
            # "components", not "component": an incident's page must not inhibit the warnings of the monitors it is about.
            "components": ", ".join(sorted(incident.impacts.values_list("component__name", flat=True)))}


def _incident_links(incident: Incident) -> list[tuple[str, str]]:
    return [("Incident console", incident.get_absolute_url())]


@transaction.atomic
def incident_page(*, incident_id: int, now: datetime) -> Alert | None:
    """An incident changed: page its severity's channels once when it is declared (or raised to a
    severity that pages), acknowledge the page when the incident is acknowledged, resolve its
    alerts when it resolves. Idempotent: an event read twice pages once."""
    incident = Incident.objects.filter(pk=incident_id).first()
    if incident is None:
        return None
    prefix = f"{INCIDENT_KEY_PREFIX}{incident.pk}:"
    open_alerts = Alert.objects.filter(dedup_key__startswith=prefix, status__in=Alert.OPEN)
    if not incident.is_open:
        for key in list(open_alerts.values_list("dedup_key", flat=True)):
            alert_resolve(key=key, now=now)
        return None
    paging = severity_paging(incident.impact)
    key = f"{prefix}declared:{incident.impact}"
    alert = None
    if paging.pages_anyone and not Alert.objects.filter(dedup_key=key).exists():
        alert = alert_raise(rule=paging.rule, key=key, labels=_incident_labels(incident, paging, "incident_declared"),
                            summary=f"{incident.severity} declared: {incident.title}", value=incident.get_status_display(),
                            links=_incident_links(incident), first_seen=incident.started_at, now=now)
    if incident.acknowledged_at is not None:
        # Only the page: a breach alert says a target was missed and stays until it is met.
        acknowledge(alerts=open_alerts.filter(status=Alert.Status.FIRING, dedup_key__startswith=f"{prefix}declared:"),
                    by=incident.acknowledged_by, now=now)
    return alert


def incident_targets_check(*, now: datetime) -> int:
    """Raise an alert for each open incident past a response target it has not met; resolve it once met.
    Returns how many breaches are open."""
    breaching = 0
    for incident in Incident.objects.filter(status__in=Incident.OPEN_STATUSES).order_by("pk"):
        for target in incident_selectors.incident_clock(incident):
            key = f"{INCIDENT_KEY_PREFIX}{incident.pk}:breach:{target.name}"
            with transaction.atomic():
                if target.met_at is None and now > target.due_at:
                    paging = severity_paging(incident.impact)
                    minutes = round((target.due_at - incident.started_at).total_seconds() / 60)
                    alert_raise(rule=paging.rule, key=key, labels=_incident_labels(incident, paging, f"incident_target_{target.name}"),
                                summary=f"{incident.severity} {incident.title}: {TARGET_NAMES[target.name]} target of {minutes} min missed",
                                value=f"due {target.due_at:%H:%M} UTC", links=_incident_links(incident), now=now)
                    breaching += 1
                elif target.met_at is not None:
                    alert_resolve(key=key, now=now)
    breaching += postmortem_reminders(now=now)
    return breaching


def stakeholder_notify(*, update_id: int, now: datetime) -> int:
    """Send an internal stakeholder update to the channels its incident's severity pages. Idempotent."""
    update = StakeholderUpdate.objects.select_related("incident").filter(pk=update_id).first()
    if update is None:
        return 0
    message = stakeholder_message(update, now=now).to_dict()
    if Notification.objects.filter(kind=Notification.Kind.STAKEHOLDER, message__dedup_key=message["dedup_key"]).exists():
        return 0
    channels = list(severity_paging(update.incident.impact).rule.channels.filter(enabled=True))
    Notification.objects.bulk_create([Notification(channel=channel, kind=Notification.Kind.STAKEHOLDER, message=message,
                                                   next_attempt_at=now, created_at=now) for channel in channels])
    if channels:
        transaction.on_commit(_deliver_soon)
    return len(channels)


# A postmortem's reminder starts this long before it is due (and stays, saying "overdue", after).
POSTMORTEM_REMINDER_BEFORE = timedelta(hours=24)


def postmortem_reminders(*, now: datetime) -> int:
    """Remind the severity's channels of each postmortem due within a day or overdue (not yet
    published); resolve the reminder once it is published. Returns how many reminders are open."""
    open_reminders = 0
    recent = Incident.objects.filter(status__in=[Incident.Status.RESOLVED, Incident.Status.POSTMORTEM],
                                     resolved_at__gte=now - timedelta(days=90)).select_related("postmortem").order_by("pk")
    for incident in recent:
        due = incident_selectors.postmortem_due_at(incident)
        key = f"postmortem:{incident.pk}"
        postmortem = getattr(incident, "postmortem", None)
        published = postmortem is not None and postmortem.status == "published"
        with transaction.atomic():
            if due is None or published:
                alert_resolve(key=key, now=now)
            elif now >= due - POSTMORTEM_REMINDER_BEFORE:
                paging = severity_paging(incident.impact)
                when = f"overdue since {due:%Y-%m-%d %H:%M} UTC" if now > due else f"due {due:%Y-%m-%d %H:%M} UTC"
                labels = {**_incident_labels(incident, paging, "postmortem_due"), "severity": Severity.WARNING}
                alert_raise(rule=paging.rule, key=key, labels=labels, severity=Severity.WARNING,
                            summary=f"Postmortem for {incident.severity} {incident.title}: {when}", value=when,
                            links=[("Write the postmortem", f"{incident.get_absolute_url()}postmortem/")], now=now)
                open_reminders += 1
    return open_reminders


# --- Delivery ---------------------------------------------------------------------------------


def claim_due(*, now: datetime, limit: int = 100) -> list[int]:
    return outbox.claim_due(Notification, now=now, limit=limit)


def deliver(*, notification_id: int, now: datetime) -> str:
    """Send one claimed notification through its channel's transport (core.outbox records it).
    A worker that dies mid-send leaves it `sending`; after the lease it is sent again with the
    same uid, by which receivers drop the duplicate."""
    notification = Notification.objects.select_related("channel").get(pk=notification_id)
    channel = notification.channel or Channel(name=f"on call: {notification.to_email}", kind=Channel.Kind.EMAIL,
                                              config={"to": [notification.to_email]})

    def transmit() -> int | None:
        target = channel
        if notification.channel is not None:
            try:
                target = Channel(pk=channel.pk, name=channel.name, kind=channel.kind, config=channel.resolved_config(), enabled=channel.enabled)
            except MissingSecret as missing:
                raise TransportError(str(missing), permanent=True) from None
        return transport_send(target, notification.message, notification).code

    outcome = outbox.send(notification, transmit, now=now)
    if outcome is None:
        return notification.status
    if outcome.result != "sent":
        log.warning("notification %s to %s %s: %s", notification.pk, channel, "failed" if outcome.final else "will retry", outcome.error)
    count_delivery(channel.kind, outcome.result)
    return outcome.result


def channel_refuse_outside_egress(*, channel: Channel, by: AbstractBaseUser | AnonymousUser | None) -> None:
    """A channel's URL must lie within the networks its saver's role may reach (VIGIL_EGRESS_<ROLE>_ALLOW;
    admins: any by default). env:NAME URLs are the operator's own and are not checked."""
    url = (channel.config or {}).get("url") if isinstance(channel.config, dict) else None
    if channel.kind == Channel.Kind.APPRISE:
        # A self-hosted service's Apprise URL (json://, ntfys://, mailtos:// ...) names a host like a webhook does.
        if isinstance(url, str) and (target := apprise_network_target(url)) is not None:
            refuse_outside(field="config", allow=allow_for(by), host=target[0], port=target[1], label=f"channel '{channel.name}': url")
    elif isinstance(url, str) and url.startswith(("http://", "https://")):
        refuse_outside(field="config", allow=allow_for(by), url=url, label=f"channel '{channel.name}': url")


def channel_save(*, channel: Channel, by: AbstractBaseUser | AnonymousUser | None) -> Channel:
    """The one writer of channels (admin, API, config import): validate, apply the egress policy, save."""
    channel.full_clean()
    channel_refuse_outside_egress(channel=channel, by=by)
    channel.save()
    return channel


def send_test(*, channel: Channel, now: datetime) -> Notification:
    """A test notification through the real outbox, so it proves the whole path."""
    message = channel_test_message(channel, now=now).to_dict()
    notification = Notification.objects.create(channel=channel, kind=Notification.Kind.TEST, message=message, next_attempt_at=now, created_at=now)
    transaction.on_commit(_deliver_soon)
    return notification


# --- Inbound integrations (Alertmanager, Grafana, Sentry, PagerDuty) ------------------------------

# A token someone writes (config file, API) is at least this long; the ones Vigil issues are 43 characters.
TOKEN_MIN_LENGTH = 20


def integration_save(*, integration: Integration, token: str | None = None,
                     by: AbstractBaseUser | AnonymousUser | None = None) -> Integration:
    """The one writer of integrations (admin, API, config import, staff page): validate and save.

    `token` None keeps what is stored. For Alertmanager and Grafana it is the bearer token their
    requests carry: `env:NAME` is read from the environment at each request, any other text is
    kept only as its SHA-256. For Sentry and PagerDuty it is the signing secret (env:NAME too)."""
    if token is not None:
        token = token.strip()
        if integration.kind in Integration.SIGNED_KINDS:
            integration.signing_secret, integration.token_hash, integration.token_env = token, "", ""
        elif is_env_reference(token):
            integration.token_env, integration.token_hash = token, ""
        elif len(token) < TOKEN_MIN_LENGTH:
            raise ValidationError({"token": f"integration '{integration.name}': a token is at least {TOKEN_MIN_LENGTH} characters "
                                            f"(got {len(token)}); write env:NAME to read it from the environment, or let Vigil issue one"})
        else:
            integration.token_hash, integration.token_env = hashlib.sha256(token.encode()).hexdigest(), ""
    integration.full_clean()
    integration.save()
    return integration


def integration_issue_token(*, integration: Integration) -> str:
    """A new random bearer token for an Alertmanager or Grafana integration, returned once; the old one stops working."""
    if integration.kind not in Integration.TOKEN_KINDS:
        raise ValidationError({"kind": f"integration '{integration.name}': {integration.get_kind_display()} signs its webhooks with "
                                       "its own secret (token: the signing secret); it needs no bearer token"})
    token = secrets.token_urlsafe(32)
    Integration.objects.filter(pk=integration.pk).update(token_hash=hashlib.sha256(token.encode()).hexdigest(), token_env="")
    integration.token_hash, integration.token_env = hashlib.sha256(token.encode()).hexdigest(), ""
    return token


def integration_token_matches(integration: Integration, digest: str) -> bool:
    """Whether a presented token (its SHA-256 hex `digest`) is this integration's."""
    if integration.token_env:
        try:
            expected = secret_values.resolve(integration.token_env, what=f"integration '{integration.name}': token")
        except MissingSecret as exc:
            log.warning("%s", exc)
            return False
        return hmac.compare_digest(hashlib.sha256(expected.encode()).hexdigest(), digest)
    return bool(integration.token_hash) and hmac.compare_digest(integration.token_hash, digest)


def integration_signing_secret(integration: Integration) -> str | None:
    """The secret Sentry or PagerDuty signs with (env:NAME read now), or None when its variable is missing."""
    try:
        return secret_values.resolve(integration.signing_secret, what=f"integration '{integration.name}': signing secret")
    except MissingSecret as exc:
        log.warning("%s", exc)
        return None
