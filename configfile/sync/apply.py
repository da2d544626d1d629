"""Applying a file: every changed item through its section's writer, prune, audit; all or nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from alerting.models import AlertRule, Channel, EscalationPolicy, Integration
from configfile.schema import SECTIONS, VigilConfig
from configfile.source import ConfigError, Source
from configfile.sync.compare import Plan, plan, with_implied_groups
from configfile.sync.read import key_of
from configfile.sync.write_alerting import (
    write_alert_rule,
    write_channel,
    write_communication_templates,
    write_escalation_policy,
    write_integration,
    write_severity_policy,
)
from configfile.sync.write_incidents import write_component, write_component_group
from configfile.sync.write_monitors import write_monitor
from configfile.sync.write_pages import write_slo, write_status_page
from configfile.sync.writer import Writer
from core.services import audit_record
from incidents.models import Component, ComponentGroup
from monitors import services as monitor_services
from monitors.models import Monitor
from slo.models import SLO
from statuspage.models import StatusPage

# section -> (model, writer(writer, index in the file, item, existing object or None))
SECTION_WRITERS: dict[str, tuple[type[models.Model], Callable[[Writer, int, Any, Any], None]]] = {
    "component_groups": (ComponentGroup, write_component_group),
    "components": (Component, write_component),
    "monitors": (Monitor, write_monitor),
    "channels": (Channel, write_channel),
    "escalation_policies": (EscalationPolicy, write_escalation_policy),
    "alert_rules": (AlertRule, write_alert_rule),
    "integrations": (Integration, write_integration),
    "status_pages": (StatusPage, write_status_page),
    "slos": (SLO, write_slo),
}
DELETE_ORDER = ("slos", "status_pages", "integrations", "alert_rules", "escalation_policies", "channels", "monitors", "components", "component_groups")


def _key_field(section: str) -> str:
    return "slug" if section == "status_pages" else "name"


def _write_changed(writer: Writer, config: VigilConfig, result: Plan) -> None:
    for section in SECTIONS:
        model, write = SECTION_WRITERS[section]
        key = _key_field(section)
        items = getattr(config, section)
        existing = {getattr(obj, key): obj for obj in model._default_manager.filter(**{f"{key}__in": [key_of(i) for i in items]})}
        changed = {change.name for change in result.changes if change.section == section}
        for index, item in enumerate(items):
            if key_of(item) in changed:
                write(writer, index, item, existing.get(key_of(item)))


def _prune(result: Plan) -> None:
    for section in DELETE_ORDER:
        names = [change.name for change in result.changes if change.section == section and change.action == "delete"]
        key = _key_field(section)
        for obj in SECTION_WRITERS[section][0]._default_manager.filter(**{f"{key}__in": names}):
            if section == "monitors":
                monitor_services.monitor_delete(monitor=obj)
            else:
                obj.delete()


def apply(config: VigilConfig, source: Source, *, prune: bool, dry_run: bool, by: Any = None, now: datetime | None = None) -> Plan:
    """Make the database say what the file says. All or nothing: any problem rolls everything back.
    A dry run does the same work and rolls it back, so it finds every problem a real run would."""
    now = now or timezone.now()
    config = with_implied_groups(config)
    result = plan(config, prune=prune)
    writer = Writer(config, source, by, now)
    try:
        with transaction.atomic():
            _write_changed(writer, config, result)
            if config.severity_policy is not None:
                write_severity_policy(writer, config.severity_policy)
            if config.communication_templates is not None:
                write_communication_templates(writer, config.communication_templates)
            if prune:
                _prune(result)
            if source.problems:
                raise ConfigError(source.problems)
            if not dry_run and result.changes:
                audit_record(actor=by, action="import_config", object_type="config", source="command", changes={
                    "file": source.filename, "created": result.count("create"), "updated": result.count("update"),
                    "deleted": result.count("delete")})
            if dry_run:
                transaction.set_rollback(True)
    finally:
        result.warnings = writer.warnings
    return result
