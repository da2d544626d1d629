"""Alerting: rules raise alerts from monitor state changes; groups flush into the outbox.

Flow: a StateChange (handled exactly once) upserts alerts in the same transaction;
`tick` (beat, every second) promotes pending alerts whose duration has passed,
resolves alerts whose condition has been clear long enough, and flushes due groups
Alertmanager-style (group_wait, group_interval, repeat_interval) into Notification
rows; `deliver_due` sends them with retries. Silences, maintenance, flapping and
inhibition (a critical alert on a component mutes its warnings) hold notifications
back, never the alert rows.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q

from alerting.models import Alert, AlertGroup, AlertRule, Channel, Notification, Severity, Silence
from alerting.transports import TransportError
from alerting.transports import send as transport_send
from core.live import OPS_GROUP, publish_after_commit

log = logging.getLogger("vigil.alerting")

ACK_SALT = "vigil.alerting.ack"
MAX_ATTEMPTS = 10
FIRING_STATES = {"down", "degraded"}


# --- Rules and alerts -------------------------------------------------------------------------


def rules_for(monitor: Any) -> list[AlertRule]:
    rules = []
    tag_ids = {t.pk for t in monitor.tags.all()}
    for rule in AlertRule.objects.filter(enabled=True).prefetch_related("monitors", "components", "tags"):
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
        rules.append(rule)
    return rules


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


def group_key(rule: AlertRule, labels: dict[str, str]) -> str:
    return ",".join(f"{name}={labels.get(name, '')}" for name in (rule.group_by or [])) or "all"


def _touch_group(rule: AlertRule, key: str, now: datetime) -> AlertGroup:
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


def on_state_change(*, monitor: Any, new_state: str, reason: str, now: datetime) -> list[Alert]:
    """Called inside the transaction that handles a StateChange: alerts are written with it."""
    touched = []
    for rule in rules_for(monitor):
        key = f"rule:{rule.pk}:monitor:{monitor.pk}"
        alert = Alert.objects.select_for_update().filter(dedup_key=key).exclude(status=Alert.Status.RESOLVED).first()
        if new_state in rule.states:
            # What the check saw ("connection refused", "p95 4.2 s > 4 s") says more than the verdict.
            seen = (monitor.last_message or reason)[:300]
            labels = alert_labels(rule, monitor)
            summary = f"{monitor.name} is {new_state}"
            if alert is None:
                status = Alert.Status.PENDING if rule.for_seconds else Alert.Status.FIRING
                alert = Alert.objects.create(
                    rule=rule, dedup_key=key, group_key=group_key(rule, labels), status=status, severity=rule.severity,
                    summary=summary, labels=labels, monitor=monitor, value=seen, first_seen=now, last_seen=now,
                    fired_at=now if status == Alert.Status.FIRING else None,
                )
                if status == Alert.Status.FIRING:
                    _touch_group(rule, alert.group_key, now)
            else:
                alert.last_seen, alert.cleared_at, alert.value, alert.summary = now, None, seen, summary
                alert.count += 1
                alert.save(update_fields=["last_seen", "cleared_at", "value", "summary", "count"])
            touched.append(alert)
        elif alert is not None:
            if alert.status == Alert.Status.PENDING:
                # It never held for its duration: it never fired, so nobody hears of it.
                alert.status, alert.resolved_at, alert.cleared_at = Alert.Status.RESOLVED, now, now
                alert.save(update_fields=["status", "resolved_at", "cleared_at"])
            elif alert.cleared_at is None:
                alert.cleared_at = now
                alert.save(update_fields=["cleared_at"])
            touched.append(alert)
    return touched


def tick(*, now: datetime) -> dict[str, int]:
    """Promote, auto-resolve and flush. Idempotent; run every second by beat."""
    promoted = resolved = 0
    with transaction.atomic():
        for alert in Alert.objects.select_for_update(skip_locked=True, of=("self",)).filter(status=Alert.Status.PENDING).select_related("rule", "monitor"):
            rule = alert.rule
            if rule is None or alert.first_seen + timedelta(seconds=rule.for_seconds) > now:
                continue
            if alert.monitor is not None and alert.monitor.state not in rule.states:
                continue  # the change that clears it is on its way
            alert.status, alert.fired_at = Alert.Status.FIRING, now
            alert.save(update_fields=["status", "fired_at"])
            _touch_group(rule, alert.group_key, now)
            promoted += 1
        clear = Alert.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            status__in=[Alert.Status.FIRING, Alert.Status.ACKNOWLEDGED], cleared_at__isnull=False).select_related("rule")
        for alert in clear:
            wait = alert.rule.resolve_after_seconds if alert.rule else 300
            if alert.cleared_at and alert.cleared_at + timedelta(seconds=wait) <= now:
                alert.status, alert.resolved_at = Alert.Status.RESOLVED, now
                alert.save(update_fields=["status", "resolved_at"])
                if alert.rule is not None:
                    _touch_group(alert.rule, alert.group_key, now)
                resolved += 1
        if promoted or resolved:
            publish_after_commit(OPS_GROUP, data={"type": "alerts", "promoted": promoted, "resolved": resolved})
    flushed = 0
    for group_id in AlertGroup.objects.filter(next_flush_at__lte=now).values_list("pk", flat=True)[:500]:
        flushed += flush_group(group_id=group_id, now=now)
    flushed += escalate_due(now=now)
    return {"promoted": promoted, "resolved": resolved, "notifications": flushed}


# --- What is held back --------------------------------------------------------------------------


def _held_back(alerts: list[Alert], now: datetime) -> set[int]:
    """Alerts silenced, under maintenance, flapping (when the rule says so) or inhibited."""
    from incidents.selectors import monitor_ids_under_maintenance

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


def flush_group(*, group_id: int, now: datetime) -> int:
    with transaction.atomic():
        group = AlertGroup.objects.select_for_update(skip_locked=True).select_related("rule").filter(pk=group_id, next_flush_at__lte=now).first()
        if group is None:
            return 0
        rule = group.rule
        recent = now - timedelta(seconds=rule.group_interval_seconds + 60)
        alerts = list(Alert.objects.filter(rule=rule, group_key=group.group_key).filter(
            Q(status__in=[Alert.Status.FIRING, Alert.Status.ACKNOWLEDGED]) | Q(status=Alert.Status.RESOLVED, resolved_at__gte=recent)
        ).select_related("monitor", "rule").order_by("first_seen", "pk"))
        held = _held_back(alerts, now)
        firing = [a for a in alerts if a.status == Alert.Status.FIRING and a.pk not in held]
        acknowledged = [a for a in alerts if a.status == Alert.Status.ACKNOWLEDGED]
        resolved_now = [a for a in alerts if a.status == Alert.Status.RESOLVED and a.pk not in held
                        and (group.last_notified_at is None or (a.resolved_at and a.resolved_at > group.last_notified_at))]
        fingerprint = hashlib.sha256(",".join(sorted(f"{a.pk}:{a.status}" for a in firing + resolved_now)).encode()).hexdigest()
        due_repeat = group.last_notified_at is None or now >= group.last_notified_at + timedelta(seconds=rule.repeat_interval_seconds)
        made = 0
        if firing and (fingerprint != group.last_fingerprint or due_repeat):
            made = _enqueue(group, Notification.Kind.FIRING, firing, now)
            if rule.escalation_policy_id and group.next_escalation_at is None and group.escalation_step == 0:
                made += _escalate(group, firing, now)
        elif not firing and resolved_now and not acknowledged and rule.notify_resolved and group.last_notified_at is not None:
            made = _enqueue(group, Notification.Kind.RESOLVED, resolved_now, now)
        if made:
            group.last_notified_at, group.last_fingerprint = now, fingerprint
        still_open = firing or acknowledged or any(a.status == Alert.Status.FIRING for a in alerts)
        group.next_flush_at = now + timedelta(seconds=rule.group_interval_seconds) if still_open else None
        if not firing and not any(a.status == Alert.Status.FIRING for a in alerts):
            # Everything acknowledged or resolved: escalation stops; a new storm starts over.
            group.next_escalation_at = None
            if not acknowledged:
                group.escalation_step = 0
        group.save(update_fields=["last_notified_at", "last_fingerprint", "next_flush_at", "next_escalation_at", "escalation_step"])
        return made


def _escalate(group: AlertGroup, firing: list[Alert], now: datetime) -> int:
    """Run the group's next escalation step: its channels, and email whoever is on call."""
    policy = group.rule.escalation_policy
    steps = list(policy.steps.prefetch_related("channels").select_related("schedule")) if policy else []
    total = len(steps) * ((policy.repeat if policy else 0) + 1)
    if not steps or group.escalation_step >= total:
        group.next_escalation_at = None
        return 0
    step = steps[group.escalation_step % len(steps)]
    message = build_message(group.rule, group, firing, kind=Notification.Kind.ESCALATION, now=now)
    message["fields"].append(("Escalation", f"step {group.escalation_step % len(steps) + 1} of {len(steps)}"
                                            + (f", round {group.escalation_step // len(steps) + 1}" if policy and policy.repeat else "")))
    rows = [Notification(channel=channel, group=group, kind=Notification.Kind.ESCALATION, message=message, next_attempt_at=now, created_at=now)
            for channel in step.channels.all() if channel.enabled]
    if step.schedule is not None:
        person = step.schedule.on_call(now)
        if person is not None and person.email:
            message_for_person = {**message, "fields": [*message["fields"], ("On call", f"{person.get_username()} ({step.schedule.name})")]}
            rows.append(Notification(channel=None, to_email=person.email, group=group, kind=Notification.Kind.ESCALATION,
                                     message=message_for_person, next_attempt_at=now, created_at=now))
        else:
            log.warning("escalation step %s: nobody with an email is on call on %s", step, step.schedule)
    Notification.objects.bulk_create(rows)
    if rows:
        transaction.on_commit(_deliver_soon)
    group.escalation_step += 1
    group.next_escalation_at = now + timedelta(minutes=step.wait_minutes) if group.escalation_step < total else None
    return len(rows)


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
    message = build_message(rule, group, alerts, kind=kind, now=now)
    channels = list(rule.channels.filter(enabled=True))
    Notification.objects.bulk_create([
        Notification(channel=channel, group=group, kind=kind, message=message, next_attempt_at=now, created_at=now) for channel in channels
    ])
    if channels:
        transaction.on_commit(_deliver_soon)
    return len(channels)


def _deliver_soon() -> None:
    from alerting.tasks import deliver_notifications

    try:
        deliver_notifications.delay()
    except Exception as exc:  # noqa: BLE001 - beat runs delivery every few seconds anyway
        log.warning("notification delivery not queued (%s); the periodic run sends it", exc)


def ack_token(group: AlertGroup) -> str:
    return signing.dumps({"g": group.pk}, salt=ACK_SALT)


def build_message(rule: AlertRule, group: AlertGroup, alerts: list[Alert], *, kind: str, now: datetime) -> dict[str, Any]:
    """What every transport shapes: title, text, fields, links (monitor, runbook, acknowledge)."""
    base = settings.VIGIL_BASE_URL.rstrip("/")
    resolved = kind == Notification.Kind.RESOLVED
    first = alerts[0]
    count = len(alerts)
    if count == 1:
        title = f"{'Resolved: ' if resolved else ''}{first.summary}"
    else:
        title = f"{'Resolved: ' if resolved else ''}{count} alerts for {rule.name}"
    since = min(a.fired_at or a.first_seen for a in alerts)
    lines = [f"{a.summary}{f' ({a.value})' if a.value and not resolved else ''}" for a in alerts[:20]]
    if count > 20:
        lines.append(f"... and {count - 20} more")
    fields = [("Severity", rule.severity), ("Rule", rule.name), ("Since", f"{since:%Y-%m-%d %H:%M:%S} UTC")]
    if count == 1 and first.monitor is not None:
        fields.append(("Monitor", f"{first.monitor.name} ({first.monitor.kind})"))
        if first.labels.get("component"):
            fields.append(("Component", first.labels["component"]))
        if first.value and not resolved:
            fields.append(("Seen", first.value))
        if rule.for_seconds:
            fields.append(("Held for", f"{rule.for_seconds // 60} min" if rule.for_seconds >= 60 else f"{rule.for_seconds} s"))
    else:
        fields.append(("Alerts", str(count)))
    links = []
    if count == 1 and first.monitor is not None:
        links.append(("Monitor", f"{base}/admin/monitors/monitor/{first.monitor.pk}/change/"))
    if rule.runbook_url:
        links.append(("Runbook", rule.runbook_url))
    if not resolved:
        links.append(("Acknowledge", f"{base}/alerts/ack/{ack_token(group)}/"))
    return {
        "title": title, "text": "\n".join(lines), "severity": rule.severity, "resolved": resolved, "fields": fields,
        "links": links, "runbook_text": rule.runbook_text, "dedup_key": f"vigil-group-{group.pk}", "group": group.group_key,
        "component": first.labels.get("component", ""), "source": first.labels.get("monitor", "vigil"), "class": first.labels.get("kind", ""),
        "at": now.isoformat(), "url": links[0][1] if links else base,
        "footer": f"Vigil · rule {rule.name} · {count} alert{'s' if count != 1 else ''}",
        "alerts": [{"id": a.pk, "summary": a.summary, "status": a.status, "labels": a.labels, "value": a.value,
                    "first_seen": a.first_seen.isoformat()} for a in alerts[:100]],
    }


# --- Acknowledgement -----------------------------------------------------------------------------


class AckError(Exception):
    pass


@transaction.atomic
def acknowledge_group(*, token: str, by: Any, now: datetime) -> AlertGroup:
    try:
        payload = signing.loads(token, salt=ACK_SALT, max_age=7 * 24 * 3600)
    except signing.BadSignature:
        raise AckError("This acknowledge link is not valid (or older than 7 days); acknowledge in the admin instead.") from None
    group = AlertGroup.objects.select_related("rule").filter(pk=payload.get("g")).first()
    if group is None:
        raise AckError("These alerts no longer exist.")
    acknowledge(alerts=Alert.objects.filter(rule=group.rule, group_key=group.group_key, status=Alert.Status.FIRING), by=by, now=now)
    return group


def acknowledge(*, alerts: Any, by: Any, now: datetime) -> int:
    user = by if by is not None and getattr(by, "is_authenticated", False) else None
    count = 0
    ids = list(alerts.values_list("pk", flat=True))
    for alert in Alert.objects.select_for_update(of=("self",)).filter(pk__in=ids, status=Alert.Status.FIRING):
        alert.status, alert.acknowledged_at, alert.acknowledged_by = Alert.Status.ACKNOWLEDGED, now, user
        alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
        count += 1
    if count:
        publish_after_commit(OPS_GROUP, data={"type": "alerts", "acknowledged": count})
    return count


@transaction.atomic
def resolve(*, alerts: Any, by: Any, now: datetime) -> int:
    """Close open alerts by hand (a false positive, or fixed while the check still waits to recover).

    Their groups flush again, so the channels hear "resolved" as they would for an auto-resolve."""
    count = 0
    ids = list(alerts.values_list("pk", flat=True))
    for alert in Alert.objects.select_for_update(of=("self",)).filter(pk__in=ids, status__in=Alert.OPEN).select_related("rule"):
        was_firing = alert.status != Alert.Status.PENDING
        alert.status, alert.resolved_at, alert.cleared_at = Alert.Status.RESOLVED, now, alert.cleared_at or now
        alert.save(update_fields=["status", "resolved_at", "cleared_at"])
        if was_firing and alert.rule is not None:
            _touch_group(alert.rule, alert.group_key, now)
        count += 1
    if count:
        publish_after_commit(OPS_GROUP, data={"type": "alerts", "resolved": count})
    return count


# --- Delivery ---------------------------------------------------------------------------------


def claim_due(*, now: datetime, limit: int = 100) -> list[int]:
    lease = timedelta(seconds=settings.VIGIL_DELIVERY_LEASE_SECONDS)
    due = Q(status=Notification.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Notification.Status.SENDING, claimed_at__lt=now - lease)
    with transaction.atomic():
        ids = list(Notification.objects.select_for_update(skip_locked=True).filter(due).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
        Notification.objects.filter(pk__in=ids).update(status=Notification.Status.SENDING, claimed_at=now)
    return ids


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(10 * 2 ** (attempts - 1), 1800))


def deliver(*, notification_id: int, now: datetime) -> str:
    """Send one claimed notification. A worker that dies mid-send leaves it `sending`; after
    the lease it is sent again with the same id (receivers drop the duplicate by it)."""
    notification = Notification.objects.select_related("channel").get(pk=notification_id)
    if notification.status != Notification.Status.SENDING:
        return notification.status
    attempts = notification.attempts + 1
    channel = notification.channel or Channel(name=f"on call: {notification.to_email}", kind=Channel.Kind.EMAIL,
                                              config={"to": [notification.to_email]})
    try:
        if notification.channel is not None:
            try:
                channel = Channel(pk=channel.pk, name=channel.name, kind=channel.kind, config=channel.resolved_config(), enabled=channel.enabled)
            except ValueError as missing:
                raise TransportError(str(missing), permanent=True) from None
        delivery = transport_send(channel, notification.message, notification)
    except TransportError as failure:
        final = failure.permanent or attempts >= MAX_ATTEMPTS
        wait = timedelta(seconds=failure.retry_after) if failure.retry_after else backoff(attempts)
        Notification.objects.filter(pk=notification.pk).update(
            status=Notification.Status.FAILED if final else Notification.Status.PENDING, attempts=attempts,
            next_attempt_at=now + wait, response_code=failure.code, last_error=str(failure)[:300], claimed_at=None)
        log.warning("notification %s to %s %s: %s", notification.pk, channel, "failed" if final else "will retry", failure)
        _count(channel.kind, "failed" if final else "retry")
        return "failed" if final else "retry"
    Notification.objects.filter(pk=notification.pk).update(
        status=Notification.Status.SENT, attempts=attempts, sent_at=now, response_code=delivery.code, last_error="", claimed_at=None)
    _count(channel.kind, "sent")
    return "sent"


def _count(kind: str, outcome: str) -> None:
    from core.metrics import count_delivery

    count_delivery(kind, outcome)


def send_test(*, channel: Channel, now: datetime) -> Notification:
    """A test notification through the real outbox, so it proves the whole path."""
    message = {
        "title": f"Test notification for {channel.name}", "text": "If you can read this, Vigil can reach this channel.",
        "severity": "info", "resolved": False, "fields": [("Channel", channel.name), ("Kind", channel.get_kind_display())],
        "links": [("Vigil", settings.VIGIL_BASE_URL)], "runbook_text": "", "dedup_key": f"vigil-test-{channel.pk}-{int(now.timestamp())}",
        "group": "test", "component": "", "source": "vigil", "class": "test", "at": now.isoformat(), "url": settings.VIGIL_BASE_URL,
        "footer": "Vigil · test notification", "alerts": [],
    }
    notification = Notification.objects.create(channel=channel, kind=Notification.Kind.TEST, message=message, next_attempt_at=now, created_at=now)
    transaction.on_commit(_deliver_soon)
    return notification
