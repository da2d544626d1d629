"""Writes of incidents, components, maintenance and postmortems.

Every write validates, saves inside one transaction, records the AuditLog, records an
event for the apps that react (core.events: incident.changed, maintenance.changed,
component.status) and pushes a live update after commit. Component status is
recomputed here only: an open incident's override, else an active maintenance, else
what its monitors say (derived_status, which the monitors app computes and hands in).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as Person
from django.db import transaction

from core import events
from core.live import OPS_GROUP, publish_after_commit
from core.models import Event
from core.services import audit_record
from incidents.models import (
    CHECKLIST_LABELS,
    STATUS_RANK,
    AutoIncidentRule,
    CommunicationTemplate,
    Component,
    ComponentImpact,
    ComponentStatus,
    Deploy,
    Incident,
    IncidentStep,
    IncidentUpdate,
    IncidentUpdateRevision,
    Maintenance,
    OpsChecklist,
    OpsChecklistSignOff,
    Postmortem,
    SeverityPolicy,
    StakeholderUpdate,
    worst_status,
)
from incidents.selectors import component_ids_under_maintenance, incident_overrides
from incidents.update_templates import DEFAULTS, placeholder_problem
from lib import periods
from lib import text as plain_text
from lib.markdown_render import render as render_markdown

log = logging.getLogger("vigil.incidents")
User = Person | AnonymousUser | None

# Event topics this app records (core.events); status pages, monitors and auto-incidents consume them.
INCIDENT_CHANGED = "incident.changed"
MAINTENANCE_CHANGED = "maintenance.changed"
COMPONENT_STATUS = "component.status"
STAKEHOLDER_UPDATE = "incident.stakeholder_update"


class IncidentConflict(Exception):
    """The incident changed since the form was rendered; the message says by whom."""


def _person(user: User) -> Person | None:
    return user if isinstance(user, Person) and user.is_authenticated else None


# --- Components -----------------------------------------------------------------------------


def derive_status(monitor_states: list[tuple[str, bool]]) -> str:
    """A component's status from its monitors: (state, down in some region) each.

    Monitors that are paused, unknown or in maintenance do not vote.
    """
    votes = [(state, partly_down) for state, partly_down in monitor_states if state in ("up", "degraded", "down")]
    if not votes:
        return ComponentStatus.OPERATIONAL
    if all(state == "down" for state, _ in votes):
        return ComponentStatus.MAJOR_OUTAGE
    if any(state == "down" or partly_down for state, partly_down in votes):
        return ComponentStatus.PARTIAL_OUTAGE
    if any(state == "degraded" for state, _ in votes):
        return ComponentStatus.DEGRADED_PERFORMANCE
    return ComponentStatus.OPERATIONAL


def component_refresh(
    *, component_ids: Iterable[int] | None = None, now: datetime, derived: Mapping[int, str] | None = None, reason: str = ""
) -> list[Component]:
    """Recompute the visible status of components; return those whose visible status changed.

    `derived` carries fresh statuses computed from monitors (monitors.services.components_derive);
    without it the stored derived_status stands. Each change of either is a component.status event.
    """
    derived = derived or {}
    with transaction.atomic():
        rows = Component.objects.select_for_update().order_by("pk")
        if component_ids is not None:
            rows = rows.filter(pk__in=list(component_ids))
        components = list(rows)
        ids = [c.pk for c in components]
        overrides = incident_overrides(ids)
        in_maintenance = component_ids_under_maintenance()
        changed, announced = [], []
        for component in components:
            new_derived = derived.get(component.pk, component.derived_status)
            if component.pk in overrides:
                visible = worst_status(overrides[component.pk])
            elif component.pk in in_maintenance:
                visible = ComponentStatus.UNDER_MAINTENANCE
            else:
                visible = new_derived
            fields = []
            derived_changed = new_derived != component.derived_status
            if derived_changed:
                component.derived_status = new_derived
                fields.append("derived_status")
            if visible != component.status:
                log.info("component %s: %s -> %s", component.name, component.status, visible)
                component.status = visible
                component.status_changed_at = now
                fields += ["status", "status_changed_at"]
                changed.append(component)
            if fields:
                component.save(update_fields=fields)
                announced.append(Event(topic=COMPONENT_STATUS, key=f"component:{component.pk}", at=now, payload={
                    "component": component.pk, "status": component.status, "derived": component.derived_status,
                    "status_changed": "status" in fields, "derived_changed": derived_changed, "reason": reason[:300],
                }))
        events.record_many(announced)
        if changed:
            publish_after_commit(OPS_GROUP, topics=["components"])
    return changed


# --- Incidents --------------------------------------------------------------------------------


def _set_impacts(incident: Incident, components: Mapping[int, str]) -> list[dict[str, Any]]:
    """Apply the statuses a commander chose; 'operational' removes the override."""
    chosen = {int(pk): status for pk, status in components.items() if status}
    for status in chosen.values():
        if status not in STATUS_RANK:
            raise ValueError(f"component status must be one of {', '.join(STATUS_RANK)}, not {status!r}")
    names = dict(Component.objects.filter(pk__in=list(chosen)).values_list("pk", "name"))
    missing = set(chosen) - set(names)
    if missing:
        raise ValueError(f"no component with id {sorted(missing)[0]}")
    for pk, status in chosen.items():
        if status == ComponentStatus.OPERATIONAL:
            ComponentImpact.objects.filter(incident=incident, component_id=pk).delete()
        else:
            ComponentImpact.objects.update_or_create(incident=incident, component_id=pk, defaults={"status": status})
    return [{"component": pk, "name": names[pk], "status": status} for pk, status in chosen.items()]


def _stamp_status(incident: Incident, status: str, now: datetime) -> None:
    incident.status = status
    if status == Incident.Status.IDENTIFIED and incident.identified_at is None:
        incident.identified_at = now
    if status == Incident.Status.MONITORING and incident.monitoring_at is None:
        incident.monitoring_at = now
        incident.identified_at = incident.identified_at or now
    if status == Incident.Status.RESOLVED:
        incident.resolved_at = now
    elif status in Incident.OPEN_STATUSES:
        incident.resolved_at = None  # reopened


def _after_incident_write(incident: Incident, update: IncidentUpdate | None, now: datetime) -> None:
    publish_after_commit(OPS_GROUP, topics=["incidents", f"incident-{incident.pk}"])
    events.record(INCIDENT_CHANGED, key=f"incident:{incident.pk}", at=now,
                  payload={"incident": incident.pk, "update": update.pk if update is not None else None, "status": incident.status})


@transaction.atomic
def incident_open(
    *,
    title: str,
    impact: str,
    message: str,
    components: Mapping[int, str] | None = None,
    status: str = Incident.Status.INVESTIGATING,
    is_public: bool = True,
    notify: bool = True,
    by: User,
    now: datetime,
    commander: Person | None = None,
    auto_rule: AutoIncidentRule | None = None,
) -> Incident:
    if status not in Incident.OPEN_STATUSES:
        raise ValueError("a new incident starts as investigating, identified or monitoring")
    person = _person(by)
    incident = Incident(
        title=title.strip(), impact=impact, status=status, is_public=is_public, started_at=now, created_at=now,
        created_by=person, commander=commander or person, auto_rule=auto_rule, auto_managed=auto_rule is not None,
    )
    _stamp_status(incident, status, now)
    incident.full_clean()
    incident.save()
    affected = _set_impacts(incident, components or {})
    update = _add_update(incident, status=status, message=message, by=person, now=now, notify=notify, affected=affected)
    component_refresh(component_ids=[a["component"] for a in affected], now=now)
    audit_record(actor=by, action="open", target=incident, changes={"impact": impact, "status": status, "components": affected},
                 source="system" if person is None else "console")
    _after_incident_write(incident, update, now)
    return incident


def _add_update(incident: Incident, *, status: str, message: str, by: Person | None, now: datetime, notify: bool,
                affected: list[dict[str, Any]]) -> IncidentUpdate:
    if not message.strip():
        raise ValueError("message: write what is happening (it is shown on the timeline)")
    update = IncidentUpdate(
        incident=incident, status=status, message=message.strip(), message_html=render_markdown(message.strip()),
        author=by, author_name=by.get_username() if by is not None else "Vigil", created_at=now,
        notify_subscribers=notify, affected_components=affected,
    )
    update.full_clean()
    update.save()
    return update


@transaction.atomic
def incident_post_update(
    *,
    incident_id: int,
    expected_version: int | None,
    status: str,
    message: str,
    components: Mapping[int, str] | None = None,
    notify: bool = True,
    by: User,
    now: datetime,
) -> IncidentUpdate:
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    if expected_version is not None and incident.version != expected_version:
        latest = incident.updates.order_by("-created_at", "-id").first()
        who = f" by {latest.author_name}" if latest else ""
        when = f" at {latest.created_at:%H:%M:%S} UTC" if latest else ""
        raise IncidentConflict(
            f"Someone else updated this incident{who}{when} after you opened it. "
            "Your text is kept below: read the timeline, then post again."
        )
    if status not in Incident.Status.values or status == Incident.Status.POSTMORTEM:
        raise ValueError("status must be investigating, identified, monitoring or resolved")
    person = _person(by)
    _stamp_status(incident, status, now)
    if status == Incident.Status.RESOLVED:
        # The override ends when the incident resolves; the monitors speak again.
        affected_ids = list(incident.impacts.values_list("component_id", flat=True))
        affected = _set_impacts(incident, components or {})
        incident.impacts.all().delete()
    else:
        affected = _set_impacts(incident, components or {})
        affected_ids = [a["component"] for a in affected]
    if person is not None:
        incident.auto_managed = False  # a person has taken over
    incident.version += 1
    incident.full_clean()
    incident.save()
    update = _add_update(incident, status=status, message=message, by=person, now=now, notify=notify, affected=affected)
    component_refresh(component_ids=affected_ids, now=now)
    audit_record(actor=by, action="post_update", target=incident, changes={"status": status, "components": affected},
                 source="system" if person is None else "console")
    _after_incident_write(incident, update, now)
    return update


@transaction.atomic
def incident_edit_update(*, update_id: int, expected_version: int | None, message: str, by: User, now: datetime) -> IncidentUpdate:
    update = IncidentUpdate.objects.select_related("incident").get(pk=update_id)
    incident = Incident.objects.select_for_update().get(pk=update.incident_id)
    if expected_version is not None and incident.version != expected_version:
        raise IncidentConflict("Someone else changed this incident after you opened it. Reload, then edit again.")
    if not message.strip():
        raise ValueError("message: an update cannot be emptied; post a correction instead")
    IncidentUpdateRevision.objects.create(update=update, message=update.message, edited_at=now, editor=_person(by))
    update.message = message.strip()
    update.message_html = render_markdown(update.message)
    update.edited_at = now
    update.save(update_fields=["message", "message_html", "edited_at"])
    incident.version += 1
    incident.save(update_fields=["version", "updated_at"])
    audit_record(actor=by, action="edit_update", target=incident, changes={"update": update.pk}, source="console")
    _after_incident_write(incident, update, now)
    return update


@transaction.atomic
def incident_set_details(*, incident_id: int, expected_version: int | None, by: User, now: datetime, **fields: Any) -> Incident:
    """Change title, impact, visibility or commander (not status: that is an update)."""
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    if expected_version is not None and incident.version != expected_version:
        raise IncidentConflict("Someone else changed this incident after you opened it. Reload, then try again.")
    allowed = {"title", "impact", "is_public", "commander", "war_room_url"}
    changes = {}
    for name, value in fields.items():
        if name not in allowed:
            raise ValueError(f"{name} cannot be changed here")
        if getattr(incident, name) != value:
            setattr(incident, name, value)
            changes[name] = value
    incident.version += 1
    incident.full_clean()
    incident.save()
    audit_record(actor=by, action="update", target=incident, changes=changes, source="console")
    _after_incident_write(incident, None, now)
    return incident


@transaction.atomic
def incident_acknowledge(*, incident_id: int, by: User, now: datetime) -> Incident:
    """Someone answers for the incident: its acknowledge target is met (once; later calls keep the first).

    The console's button and an acknowledged page (alerting) both end here; alerting reads the
    incident.changed event and acknowledges the page, which stops its escalation."""
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    if incident.acknowledged_at is not None:
        return incident
    incident.acknowledged_at, incident.acknowledged_by = now, _person(by)
    incident.version += 1
    incident.save(update_fields=["acknowledged_at", "acknowledged_by", "version", "updated_at"])
    audit_record(actor=by, action="acknowledge", target=incident, changes={"acknowledged_at": now.isoformat()},
                 source="system" if _person(by) is None else "console")
    _after_incident_write(incident, None, now)
    return incident


@transaction.atomic
def severity_policy_save(*, impact: str, ack_within_seconds: int | None, first_update_within_seconds: int | None,
                         postmortem_within_seconds: int | None, by: User) -> SeverityPolicy:
    """A severity's response targets (config as code and the admin call this)."""
    policy = SeverityPolicy.objects.filter(severity=impact).first() or SeverityPolicy(severity=impact)
    before = {name: getattr(policy, name) for name in ("ack_within_seconds", "first_update_within_seconds", "postmortem_within_seconds")}
    policy.ack_within_seconds, policy.first_update_within_seconds = ack_within_seconds, first_update_within_seconds
    policy.postmortem_within_seconds = postmortem_within_seconds
    policy.full_clean()
    policy.save()
    after = {name: getattr(policy, name) for name in before}
    if after != before:
        audit_record(actor=by, action="update", target=policy, changes=after, source="system" if _person(by) is None else "console")
    return policy


@transaction.atomic
def incident_tick_steps(*, incident_id: int, steps: Iterable[str], by: User, now: datetime) -> list[IncidentStep]:
    """Tick checklist steps (once each: a step ticked before keeps its first who and when)."""
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    person = _person(by)
    done = set(incident.steps.values_list("step", flat=True))
    ticked = []
    for step in dict.fromkeys(steps):
        if step not in CHECKLIST_LABELS:
            raise ValueError(f"step: {step!r} is not a checklist step; the steps are {', '.join(CHECKLIST_LABELS)}")
        if step in done:
            continue
        ticked.append(IncidentStep.objects.create(incident=incident, step=step, done_by=person,
                                                  done_by_name=person.get_username() if person else "Vigil", done_at=now))
    if ticked:
        incident.version += 1
        incident.save(update_fields=["version", "updated_at"])
        audit_record(actor=by, action="tick_steps", target=incident, changes={"steps": [t.step for t in ticked]},
                     source="system" if person is None else "console")
        _after_incident_write(incident, None, now)
    return ticked


@transaction.atomic
def incident_post_stakeholder_update(*, incident_id: int, message: str, by: User, now: datetime) -> StakeholderUpdate:
    """An internal update: alerting sends it to the severity's channels (it reads the event)."""
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    if not message.strip():
        raise ValueError("message: write what stakeholders should know")
    person = _person(by)
    update = StakeholderUpdate(incident=incident, message=message.strip(), author=person,
                               author_name=person.get_username() if person else "Vigil", created_at=now)
    update.full_clean()
    update.save()
    incident_tick_steps(incident_id=incident.pk, steps=["stakeholders_updated"], by=by, now=now)
    audit_record(actor=by, action="stakeholder_update", target=incident, changes={"update": update.pk},
                 source="system" if person is None else "console")
    events.record(STAKEHOLDER_UPDATE, key=f"incident:{incident.pk}", at=now, payload={"incident": incident.pk, "stakeholder_update": update.pk})
    publish_after_commit(OPS_GROUP, topics=[f"incident-{incident.pk}"])
    return update


@transaction.atomic
def communication_template_save(*, audience: str, status: str, text: str, by: User) -> CommunicationTemplate | None:
    """A team's text for one audience and status; an empty text goes back to the built-in one."""
    if audience not in DEFAULTS or status not in DEFAULTS[audience]:
        raise ValueError(f"template: audience is public or internal and status one of {', '.join(DEFAULTS['public'])}")
    text = text.strip()
    if not text:
        CommunicationTemplate.objects.filter(audience=audience, status=status).delete()
        audit_record(actor=by, action="reset_template", object_type="incidents.communicationtemplate",
                     changes={"audience": audience, "status": status}, source="console")
        return None
    problem = placeholder_problem(text)
    if problem:
        raise ValueError(problem)
    template, _ = CommunicationTemplate.objects.get_or_create(audience=audience, status=status, defaults={"text": text})
    template.text = text
    template.full_clean()
    template.save()
    audit_record(actor=by, action="update", target=template, changes={"text": text}, source="console")
    return template


@transaction.atomic
def checklist_sign_off(*, checklist_id: int, ticked: Iterable[int], note: str = "", by: User, now: datetime) -> OpsChecklistSignOff:
    """Sign a checklist off for the period `now` falls in: every item must be ticked."""
    checklist = OpsChecklist.objects.select_for_update().get(pk=checklist_id)
    item_ids = set(checklist.items.values_list("pk", flat=True))
    missing = item_ids - set(ticked)
    if missing:
        texts = list(checklist.items.filter(pk__in=missing).values_list("text", flat=True))
        raise ValueError(f"items: tick every item before signing off; not ticked: {', '.join(texts)}")
    start = periods.period_start(checklist.cadence, now.date())
    if checklist.sign_offs.filter(period_start=start).exists():
        raise ValueError(f"{checklist.name} is already signed off for the period from {start:%Y-%m-%d}")
    person = _person(by)
    sign_off = OpsChecklistSignOff(checklist=checklist, period_start=start, signed_by=person, note=note.strip()[:300],
                                   signed_by_name=person.get_username() if person else "Vigil", signed_at=now)
    sign_off.full_clean()
    sign_off.save()
    audit_record(actor=by, action="sign_off", target=checklist, changes={"period_start": start.isoformat()},
                 source="system" if person is None else "console")
    return sign_off


# --- Deploy markers -----------------------------------------------------------------------------


@transaction.atomic
def deploy_record(*, version: str, service: str = "", component: Component | None = None, deployed_by: str = "", url: str = "",
                  at: datetime | None = None, by: User, now: datetime) -> Deploy:
    """Record a deploy marker (the API, manage.py deploy and the admin call this)."""
    deploy = Deploy(version=version.strip(), service=service.strip(), component=component, by=deployed_by.strip(), url=url.strip(),
                    at=at or now, created_by=_person(by))
    deploy.full_clean()
    deploy.save()
    audit_record(actor=by, action="deploy", target=deploy, changes={"version": deploy.version, "target": deploy.target},
                 source="system" if _person(by) is None else "console")
    publish_after_commit(OPS_GROUP, topics=["deploys"])
    return deploy


# --- Auto incidents ---------------------------------------------------------------------------


def _format(template: str, **values: str) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


def auto_incident_evaluate(*, component: Component, reason: str, now: datetime) -> Incident | None:
    """Open the rule's incident on a confirmed outage; post recovery when it clears."""
    rule = AutoIncidentRule.objects.filter(component=component, enabled=True).first()
    if rule is None:
        return None
    open_incident = Incident.objects.filter(auto_rule=rule, status__in=Incident.OPEN_STATUSES).order_by("-started_at").first()
    outage = STATUS_RANK[component.derived_status] >= STATUS_RANK[rule.trigger_status] and component.derived_status != ComponentStatus.UNDER_MAINTENANCE
    if outage and open_incident is None:
        # A public incident never carries the monitor's own reason (it can hold an internal
        # URL or error text); it says what visitors see instead.
        shown_reason = component.get_derived_status_display().lower() if rule.is_public else reason
        values = {"component": component.name, "reason": shown_reason, "status": component.get_derived_status_display()}
        # The reason is a checked server's error text: whatever it holds, the incident must open.
        title = plain_text.clean(_format(rule.title_template, **values), multiline=False).strip()[:200] or f"{component.name} outage"
        return incident_open(
            title=title, impact=rule.impact, message=plain_text.clean(_format(rule.message_template, **values), multiline=True),
            components={component.pk: component.derived_status}, is_public=rule.is_public, by=None, now=now, auto_rule=rule,
        )
    if not outage and component.derived_status == ComponentStatus.OPERATIONAL and open_incident is not None and open_incident.auto_managed:
        status = Incident.Status.RESOLVED if rule.on_recovery == AutoIncidentRule.OnRecovery.RESOLVE else Incident.Status.MONITORING
        if open_incident.status != status:
            incident_post_update(
                incident_id=open_incident.pk, expected_version=None, status=status,
                message=plain_text.clean(_format(rule.recovery_message, component=component.name, reason="" if rule.is_public else reason),
                                         multiline=True), by=None, now=now,
            )
        return open_incident
    return None


# --- Maintenance ------------------------------------------------------------------------------


@transaction.atomic
def maintenance_save(*, maintenance: Maintenance, components: Iterable[Component], by: User, now: datetime) -> Maintenance:
    maintenance.full_clean()
    creating = maintenance.pk is None
    if creating:
        maintenance.created_at = now  # one clock read per action: the tick below may start it at this same `now`
    if creating and maintenance.created_by is None:
        maintenance.created_by = _person(by)
    maintenance.save()
    maintenance.components.set(list(components))
    audit_record(actor=by, action="create" if creating else "update", target=maintenance,
                 changes={"starts_at": maintenance.starts_at.isoformat(), "ends_at": maintenance.ends_at.isoformat()}, source="console")
    _maintenance_changed(maintenance, now)
    maintenance_tick(now=now)
    return maintenance


@transaction.atomic
def maintenance_set_status(*, maintenance_id: int, status: str, by: User, now: datetime) -> Maintenance:
    maintenance = Maintenance.objects.select_for_update().get(pk=maintenance_id)
    if status not in Maintenance.Status.values:
        raise ValueError(f"status must be one of {', '.join(Maintenance.Status.values)}")
    _move_maintenance(maintenance, status, now)
    audit_record(actor=by, action="set_status", target=maintenance, changes={"status": status}, source="console")
    return maintenance


def _move_maintenance(maintenance: Maintenance, status: str, now: datetime) -> None:
    if maintenance.status == status:
        return
    log.info("maintenance %s: %s -> %s", maintenance.title, maintenance.status, status)
    maintenance.status = status
    if status == Maintenance.Status.IN_PROGRESS and maintenance.started_at is None:
        maintenance.started_at = now
    if status == Maintenance.Status.COMPLETED:
        maintenance.completed_at = now
    maintenance.save()
    if status == Maintenance.Status.COMPLETED and maintenance.recurrence:
        _schedule_next_occurrence(maintenance, now)
    component_refresh(component_ids=list(maintenance.components.values_list("pk", flat=True)), now=now)
    _maintenance_changed(maintenance, now)
    publish_after_commit(OPS_GROUP, topics=["maintenance"])


def _schedule_next_occurrence(maintenance: Maintenance, now: datetime) -> Maintenance | None:
    from dateutil.rrule import rrulestr

    series = maintenance.series or maintenance
    rule = rrulestr(maintenance.recurrence, dtstart=series.starts_at)
    duration = maintenance.ends_at - maintenance.starts_at
    upcoming = rule.after(max(now, maintenance.ends_at) - timedelta(seconds=1))
    if upcoming is None:
        return None
    following = Maintenance.objects.create(
        title=maintenance.title, message=maintenance.message, starts_at=upcoming, ends_at=upcoming + duration,
        time_zone=maintenance.time_zone, auto_transition=maintenance.auto_transition, recurrence=maintenance.recurrence,
        series=series, suppress_alerts=maintenance.suppress_alerts, exclude_from_slo=maintenance.exclude_from_slo,
        is_public=maintenance.is_public, created_by=maintenance.created_by, created_at=now,
    )
    following.components.set(maintenance.components.all())
    return following


def _maintenance_changed(maintenance: Maintenance, now: datetime) -> None:
    """Monitors enter or leave the maintenance state and status pages announce it, from this event."""
    events.record(MAINTENANCE_CHANGED, key=f"maintenance:{maintenance.pk}", at=now, payload={
        "maintenance": maintenance.pk, "status": maintenance.status,
        "components": sorted(maintenance.components.values_list("pk", flat=True)),
    })


def maintenance_tick(*, now: datetime) -> int:
    """Move maintenance windows on time: scheduled -> in progress -> completed."""
    moved = 0
    with transaction.atomic():
        due = Maintenance.objects.select_for_update().filter(auto_transition=True).filter(
            status__in=[Maintenance.Status.SCHEDULED, Maintenance.Status.IN_PROGRESS], starts_at__lte=now
        )
        for maintenance in due:
            if now >= maintenance.ends_at:
                _move_maintenance(maintenance, Maintenance.Status.COMPLETED, now)
                moved += 1
            elif maintenance.status == Maintenance.Status.SCHEDULED:
                _move_maintenance(maintenance, Maintenance.Status.IN_PROGRESS, now)
                moved += 1
    return moved


# --- Postmortems ------------------------------------------------------------------------------


def timeline_text(incident: Incident) -> str:
    lines = []
    for update in incident.updates.order_by("created_at", "id"):
        first_line = update.message.strip().splitlines()[0] if update.message.strip() else ""
        lines.append(f"- {update.created_at:%Y-%m-%d %H:%M} UTC **{update.get_status_display()}** ({update.author_name}): {first_line}")
    return "\n".join(lines)


@transaction.atomic
def postmortem_start(*, incident_id: int, by: User, now: datetime) -> Postmortem:
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    postmortem, created = Postmortem.objects.get_or_create(
        incident=incident, defaults={"timeline": timeline_text(incident), "author": _person(by)}
    )
    if created:
        audit_record(actor=by, action="start_postmortem", target=incident, source="console")
    return postmortem


@transaction.atomic
def postmortem_publish(*, postmortem_id: int, by: User, now: datetime) -> Postmortem:
    postmortem = Postmortem.objects.select_for_update().select_related("incident").get(pk=postmortem_id)
    incident = postmortem.incident
    if incident.is_open:
        raise ValueError("resolve the incident before publishing its postmortem")
    missing = [name for name in ("summary", "root_cause") if not getattr(postmortem, name).strip()]
    if missing:
        raise ValueError(f"{missing[0]}: write it before publishing")
    postmortem.status = Postmortem.Status.PUBLISHED
    postmortem.published_at = now
    postmortem.save()
    incident.status = Incident.Status.POSTMORTEM
    incident.version += 1
    incident.save(update_fields=["status", "version", "updated_at"])
    audit_record(actor=by, action="publish_postmortem", target=incident, source="console")
    _after_incident_write(incident, None, now)
    return postmortem
