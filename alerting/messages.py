"""The message every transport shapes: one typed value, built once per notification.

It is stored as JSON on the Notification row (`to_dict`) before anything is sent, and read
back (`from_dict`) by the worker that delivers it, so a retry sends exactly what was decided."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing

from alerting.models import SEVERITY_ORDER, Alert, AlertGroup, AlertRule, Notification

ACK_SALT = "vigil.alerting.ack"
MAX_LINES = 20  # alerts named in the text; the rest are counted
MAX_ALERTS = 100  # alerts listed for machines (the webhook's "alerts")

Fact = tuple[str, str]  # ("Severity", "critical"), ("Runbook", "https://...")


@dataclass(frozen=True)
class AlertLine:
    """One alert of the notification, as machines read it (the webhook lists these)."""

    id: int
    summary: str
    status: str
    labels: dict[str, str]
    value: str
    first_seen: str  # ISO 8601
    severity: str = ""
    # The source's own words (Alertmanager's summary, description, runbook_url ...) and links (generatorURL ...).
    annotations: dict[str, str] = field(default_factory=dict)
    links: tuple[Fact, ...] = ()


@dataclass(frozen=True)
class AlertMessage:
    title: str
    text: str
    severity: str
    resolved: bool
    rule: str
    fields: tuple[Fact, ...]  # shown as facts: name and value
    links: tuple[Fact, ...]  # shown as buttons: label and address
    runbook_text: str
    # One per alert group, the same on every notification about it: PagerDuty folds them into one incident.
    dedup_key: str
    group_key: str
    component: str
    source: str  # what is affected: the monitor's name, or "vigil"
    event_class: str  # the monitor's kind, "slo_burn", "test"
    at: str  # ISO 8601
    url: str  # where a reader goes first
    footer: str
    alerts: tuple[AlertLine, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertMessage:
        # Rows written before this type existed name two keys differently.
        values = {LEGACY_KEYS.get(key, key): value for key, value in data.items()}
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in values.items() if key in known}
        values.setdefault("rule", "")
        values["fields"] = tuple((str(name), str(value)) for name, value in values.get("fields", ()))
        values["links"] = tuple((str(label), str(url)) for label, url in values.get("links", ()))
        values["alerts"] = tuple(AlertLine(**{**line, "links": tuple((str(label), str(url)) for label, url in line.get("links", ()))})
                                 for line in values.get("alerts", ()))
        return cls(**values)

    def with_fact(self, name: str, value: str) -> AlertMessage:
        return dataclasses.replace(self, fields=(*self.fields, (name, value)))


LEGACY_KEYS = {"group": "group_key", "class": "event_class"}


def ack_token(group: AlertGroup) -> str:
    return signing.dumps({"g": group.pk}, salt=ACK_SALT)


def build_message(rule: AlertRule, group: AlertGroup, alerts: list[Alert], *, kind: str, now: datetime) -> AlertMessage:
    """What the channels hear about `alerts` of one group: a firing, escalation or resolved notice."""
    resolved = kind == Notification.Kind.RESOLVED
    first = alerts[0]
    links = _links(rule, group, alerts, resolved=resolved)
    severity = worst_severity(alerts, default=rule.severity)
    return AlertMessage(
        title=_title(rule, alerts, resolved=resolved), text=_text(alerts, resolved=resolved), severity=severity,
        resolved=resolved, rule=rule.name, fields=_facts(rule, alerts, severity=severity, resolved=resolved), links=links,
        runbook_text=rule.runbook_text, dedup_key=f"vigil-group-{group.pk}", group_key=group.group_key,
        component=first.labels.get("component", ""), source=first.labels.get("monitor", "vigil"),
        event_class=first.labels.get("kind", ""), at=now.isoformat(), url=links[0][1] if links else _base_url(),
        footer=f"Vigil · rule {rule.name} · {len(alerts)} alert{'s' if len(alerts) != 1 else ''}",
        alerts=tuple(AlertLine(id=a.pk, summary=a.summary, status=a.status, labels=a.labels, value=a.value,
                               first_seen=a.first_seen.isoformat(), severity=a.severity, annotations=dict(a.annotations or {}),
                               links=tuple((str(label), str(url)) for label, url in a.links or []))
                     for a in alerts[:MAX_ALERTS]),
    )


def worst_severity(alerts: list[Alert], *, default: str) -> str:
    """The severity a notification carries: its worst alert's, which each alert took from its
    source (Alertmanager's `severity` label, Sentry's level) or else from its rule."""
    known = [a.severity for a in alerts if a.severity in SEVERITY_ORDER]
    return min(known, key=lambda severity: SEVERITY_ORDER[severity]) if known else default


def channel_test_message(channel: Any, *, now: datetime) -> AlertMessage:
    """What a channel's test notification says: proof that Vigil reaches it, nothing to act on."""
    return AlertMessage(
        title=f"Test notification for {channel.name}", text="If you can read this, Vigil can reach this channel.",
        severity="info", resolved=False, rule="", fields=(("Channel", channel.name), ("Kind", channel.get_kind_display())),
        links=(("Vigil", settings.VIGIL_BASE_URL),), runbook_text="", dedup_key=f"vigil-test-{channel.pk}-{int(now.timestamp())}",
        group_key="test", component="", source="vigil", event_class="test", at=now.isoformat(), url=settings.VIGIL_BASE_URL,
        footer="Vigil · test notification",
    )


def stakeholder_message(update: Any, *, now: datetime) -> AlertMessage:
    """An internal stakeholder update about an incident (incidents.StakeholderUpdate)."""
    incident = update.incident
    url = f"{_base_url()}{incident.get_absolute_url()}"
    return AlertMessage(
        title=f"{incident.severity} {incident.title}: stakeholder update", text=update.message, severity="info", resolved=False, rule="",
        fields=(("Severity", incident.severity), ("Status", incident.get_status_display()), ("From", update.author_name)),
        links=(("Incident console", url),), runbook_text="", dedup_key=f"vigil-stakeholder-{update.pk}", group_key=f"incident={incident.pk}",
        component="", source="vigil", event_class="stakeholder_update", at=update.created_at.isoformat(), url=url,
        footer="Vigil · internal stakeholder update",
    )


def _base_url() -> str:
    return str(settings.VIGIL_BASE_URL).rstrip("/")


def _title(rule: AlertRule, alerts: list[Alert], *, resolved: bool) -> str:
    prefix = "Resolved: " if resolved else ""
    return f"{prefix}{alerts[0].summary}" if len(alerts) == 1 else f"{prefix}{len(alerts)} alerts for {rule.name}"


def _text(alerts: list[Alert], *, resolved: bool) -> str:
    # What was seen ("connection refused") is news while firing, noise once resolved.
    lines = [f"{a.summary} ({a.value})" if a.value and not resolved else a.summary for a in alerts[:MAX_LINES]]
    if len(alerts) > MAX_LINES:
        lines.append(f"... and {len(alerts) - MAX_LINES} more")
    return "\n".join(lines)


# Annotations shown as facts of a single alert's notification (the summary is its title).
ANNOTATION_FACTS = (("description", "Description"), ("message", "Message"))


def _facts(rule: AlertRule, alerts: list[Alert], *, severity: str, resolved: bool) -> tuple[Fact, ...]:
    since = min(a.fired_at or a.first_seen for a in alerts)
    facts: list[Fact] = [("Severity", severity), ("Rule", rule.name), ("Since", f"{since:%Y-%m-%d %H:%M:%S} UTC")]
    first = alerts[0]
    if len(alerts) == 1 and first.monitor is None:
        annotations = first.annotations or {}
        facts.extend((label, annotations[key]) for key, label in ANNOTATION_FACTS if annotations.get(key))
    if len(alerts) > 1 or first.monitor is None:
        return (*facts, ("Alerts", str(len(alerts))))
    facts.append(("Monitor", f"{first.monitor.name} ({first.monitor.kind})"))
    if first.labels.get("component"):
        facts.append(("Component", first.labels["component"]))
    if first.value and not resolved:
        facts.append(("Seen", first.value))
    if rule.for_seconds:
        facts.append(("Held for", f"{rule.for_seconds // 60} min" if rule.for_seconds >= 60 else f"{rule.for_seconds} s"))
    return tuple(facts)


def _links(rule: AlertRule, group: AlertGroup, alerts: list[Alert], *, resolved: bool) -> tuple[Fact, ...]:
    links: list[Fact] = []
    if len(alerts) == 1 and alerts[0].monitor is not None:
        links.append(("Monitor", f"{_base_url()}/admin/monitors/monitor/{alerts[0].monitor.pk}/change/"))
    if len(alerts) == 1:
        # Where the source shows it (Grafana's rule and dashboard, Sentry's issue): a reader goes there first.
        links.extend((str(label), str(url)) for label, url in (alerts[0].links or [])[:4])
    if rule.runbook_url and (rule.runbook_url not in {url for _label, url in links}):
        links.append(("Runbook", rule.runbook_url))
    if not resolved:
        links.append(("Acknowledge", f"{_base_url()}/alerts/ack/{ack_token(group)}/"))
    return tuple(links)
