"""Export the database as a VigilConfig, and apply one back: plan, dry run, prune.

Each section has a reader (a model object -> its config item) and a writer (a config item
-> the model object, through the same services the admin and the API use). The plan is
the difference between what the reader says of the database and what the file says, so
an export imported again plans nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from alerting.models import AlertRule, Channel, EscalationPolicy, EscalationStep, OnCallSchedule
from configfile.schema import (
    CHANNEL_KEYS,
    EXPECT_SETTINGS,
    SECTIONS,
    AlertRuleConfig,
    ChannelConfig,
    ComponentConfig,
    ComponentGroupConfig,
    EscalationPolicyConfig,
    EscalationStepConfig,
    ExpectConfig,
    HeartbeatConfig,
    MonitorConfig,
    SLOConfig,
    StatusPageConfig,
    VigilConfig,
)
from configfile.source import ConfigError, Source
from core.secrets import SECRET_MASK, is_secret_field, mask_secrets, missing_references
from core.services import audit_record
from incidents.models import Component, ComponentGroup
from incidents.services import component_refresh
from monitors import services as monitor_services
from monitors.models import Monitor, Region, Tag
from slo.models import SLO
from statuspage.models import StatusPage
from statuspage.services import page_save

WINDOWS = {"7d": SLO.Window.ROLLING_7, "28d": SLO.Window.ROLLING_28, "30d": SLO.Window.ROLLING_30, "calendar_month": SLO.Window.CALENDAR_MONTH}
HTTP_KINDS = ("http", "health_json")
# Lists whose order means nothing: compared and written sorted.
UNORDERED = {"regions", "tags", "monitors", "components", "channels", "states", "monitor_kinds", "to"}


# --- Reading the database -------------------------------------------------------------------------------


def _monitor(monitor: Monitor, reveal: bool) -> MonitorConfig:
    settings = dict(monitor.settings or {}) if reveal else mask_secrets(dict(monitor.settings or {}))
    expect: dict[str, Any] = {}
    if monitor.kind in HTTP_KINDS:
        for short, key in EXPECT_SETTINGS.items():
            if key in settings:
                value = settings.pop(key)
                expect[short] = value / 1000 if key.startswith("latency_") and isinstance(value, (int, float)) else value
    regions = sorted(region.name for region in monitor.regions.all())
    if regions == [django_settings.VIGIL_DEFAULT_REGION]:
        regions = []  # what an empty list in the file means
    heartbeat = None
    if monitor.kind == Monitor.Kind.HEARTBEAT:
        heartbeat = HeartbeatConfig(period=monitor.heartbeat_period_seconds, grace=monitor.heartbeat_grace_seconds)
    return MonitorConfig(
        name=monitor.name, kind=monitor.kind, target="" if monitor.kind in HTTP_KINDS else monitor.target,
        url=monitor.target if monitor.kind in HTTP_KINDS else None, interval=monitor.interval_seconds, timeout=monitor.timeout_seconds,
        retries=monitor.retries, retry_interval=monitor.retry_interval_seconds, recovery_confirmations=monitor.recovery_confirmations,
        regions=regions, quorum=monitor.quorum,
        component=monitor.component.name if monitor.component else None, tags=sorted(tag.name for tag in monitor.tags.all()),
        paused=monitor.paused, expect=ExpectConfig(**expect) if expect else None, heartbeat=heartbeat, settings=settings,
    )


def _channel(channel: Channel, reveal: bool) -> ChannelConfig:
    config = (channel.config or {}) if reveal else channel.masked_config()
    values = {key: config[key] for key in CHANNEL_KEYS if key in config}
    return ChannelConfig(name=channel.name, kind=channel.kind, enabled=channel.enabled, **values)


def _policy(policy: EscalationPolicy, _reveal: bool) -> EscalationPolicyConfig:
    steps = [EscalationStepConfig(channels=sorted(c.name for c in step.channels.all()), schedule=step.schedule.name if step.schedule else None,
                                  wait=step.wait_minutes * 60) for step in policy.steps.all()]
    return EscalationPolicyConfig(name=policy.name, repeat=policy.repeat, steps=steps or [EscalationStepConfig()])


def _rule(rule: AlertRule, _reveal: bool) -> AlertRuleConfig:
    return AlertRuleConfig(
        name=rule.name, enabled=rule.enabled, states=sorted(rule.states), monitor_kinds=sorted(rule.monitor_kinds),
        monitors=sorted(m.name for m in rule.monitors.all()), components=sorted(c.name for c in rule.components.all()),
        tags=sorted(t.name for t in rule.tags.all()), for_=rule.for_seconds, severity=rule.severity, labels=dict(rule.labels or {}),
        runbook_url=rule.runbook_url, runbook_text=rule.runbook_text, channels=sorted(c.name for c in rule.channels.all()),
        escalation_policy=rule.escalation_policy.name if rule.escalation_policy else None, group_by=list(rule.group_by or []),
        group_wait=rule.group_wait_seconds, group_interval=rule.group_interval_seconds, repeat_interval=rule.repeat_interval_seconds,
        resolve_after=rule.resolve_after_seconds, notify_resolved=rule.notify_resolved, hold_flapping=rule.hold_flapping,
    )


def _page(page: StatusPage, _reveal: bool) -> StatusPageConfig:
    components = [link.component.name for link in page.page_components.select_related("component").order_by("position", "pk")]
    return StatusPageConfig(
        slug=page.slug, title=page.title, description=page.description, domain=page.domain, components=components,
        default=page.is_default, private=page.is_private, time_zone=page.time_zone, brand_colour=page.brand_colour,
        logo_url=page.logo_url, support_url=page.support_url, footer_links=list(page.footer_links or []),
        subscriptions=page.allow_subscriptions,
    )


def _slo(slo: SLO, _reveal: bool) -> SLOConfig:
    window = {value: key for key, value in WINDOWS.items()}[SLO.Window(slo.window)]
    return SLOConfig(
        name=slo.name, description=slo.description, component=slo.component.name if slo.component else None, kind=slo.kind,
        latency_threshold=slo.latency_threshold_ms / 1000 if slo.latency_threshold_ms else None, objective=slo.objective, window=window,
        time_zone=slo.time_zone, monitors=sorted(m.name for m in slo.monitors.all()), exclude_maintenance=slo.exclude_maintenance,
        owner=slo.owner.get_username() if slo.owner else None, alert_rule=slo.alert_rule.name if slo.alert_rule else None,
        min_events=slo.min_events, min_bad_events=slo.min_bad_events,
    )


READERS: dict[str, tuple[Callable[[], Any], Callable[[Any, bool], Any]]] = {
    "component_groups": (lambda: ComponentGroup.objects.order_by("position", "name"),
                         lambda g, _reveal: ComponentGroupConfig(name=g.name, description=g.description, position=g.position, public=g.is_public)),
    "components": (lambda: Component.objects.select_related("group").order_by("position", "name"),
                   lambda c, _reveal: ComponentConfig(name=c.name, group=c.group.name if c.group else None, description=c.description,
                                             position=c.position, public=c.is_public, status=c.status)),
    "monitors": (lambda: Monitor.objects.select_related("component").prefetch_related("regions", "tags").order_by("name"), _monitor),
    "channels": (lambda: Channel.objects.order_by("name"), _channel),
    "escalation_policies": (lambda: EscalationPolicy.objects.prefetch_related("steps__channels", "steps__schedule").order_by("name"), _policy),
    "alert_rules": (lambda: AlertRule.objects.select_related("escalation_policy")
                    .prefetch_related("monitors", "components", "tags", "channels").order_by("name"), _rule),
    "status_pages": (lambda: StatusPage.objects.order_by("slug"), _page),
    "slos": (lambda: SLO.objects.select_related("component", "owner", "alert_rule").prefetch_related("monitors").order_by("name"), _slo),
}


def key_of(item: Any) -> str:
    return getattr(item, "slug", None) or item.name


def export(*, reveal: bool = False) -> VigilConfig:
    """The database as a config; secrets masked unless they are env:NAME references (reveal: for comparing only)."""
    return VigilConfig(**{section: [reader(obj, reveal) for obj in rows()] for section, (rows, reader) in READERS.items()})


def dump(config: VigilConfig) -> str:
    """YAML with only what differs from the defaults, sections in the schema's order."""
    data = config.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data = {"version": 1, **{name: data[name] for name in VigilConfig.model_fields if name in data and name != "version"}}
    header = "# Vigil configuration: manage.py import_config <file> [--dry-run] [--prune]\n" \
             "# yaml-language-server: $schema=vigil-config.schema.json\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)


# --- Comparing -------------------------------------------------------------------------------------------


def canonical(section: str, item: Any) -> dict[str, Any]:
    """What an item means, independent of how it was spelled (url vs target, expect vs settings, order of sets)."""
    data = item.model_dump(mode="python", by_alias=True)
    if section == "monitors":
        if data.pop("url", None):
            data["target"] = item.url
        settings = dict(data.pop("settings") or {})
        for short, key in EXPECT_SETTINGS.items():
            value = getattr(item.expect, short, None) if item.expect else None
            if value is not None:
                settings[key] = round(value * 1000) if key.startswith("latency_") else value
        data.pop("expect", None)
        data["settings"] = settings
        heartbeat = data.pop("heartbeat", None) or HeartbeatConfig().model_dump()
        data["heartbeat"] = heartbeat if item.kind == "heartbeat" else None
    for name in UNORDERED & set(data):
        if isinstance(data[name], list) and not (section == "status_pages" and name == "components"):
            data[name] = sorted(data[name], key=str)
    return data


@dataclass
class Change:
    section: str
    name: str
    action: str  # create, update, delete
    fields: list[str] = field(default_factory=list)


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    kept: dict[str, list[str]] = field(default_factory=dict)  # in the database, not in the file, no --prune
    warnings: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def render(self) -> str:
        lines = []
        signs = {"create": "+", "update": "~", "delete": "-"}
        for section in SECTIONS:
            changes = [change for change in self.changes if change.section == section]
            kept = self.kept.get(section, [])
            if not changes and not kept:
                continue
            lines.append(f"{section}:")
            for change in changes:
                detail = f"  ({', '.join(change.fields)})" if change.fields else ""
                lines.append(f"  {signs[change.action]} {change.name}{detail}")
            if kept:
                lines.append(f"    {len(kept)} not in the file, kept (--prune deletes them): {', '.join(kept[:10])}{' …' if len(kept) > 10 else ''}")
        lines.append(f"Plan: {self.count('create')} to create, {self.count('update')} to update, {self.count('delete')} to delete, "
                     f"{self.unchanged} unchanged.")
        lines.extend(f"warning: {warning}" for warning in self.warnings)
        return "\n".join(lines)


def _unmask(new: Any, old: Any) -> Any:
    """A masked secret in the file means the stored one."""
    if new == SECRET_MASK:
        return old
    if isinstance(new, dict):
        return {key: _unmask(value, old.get(key) if isinstance(old, dict) else None) for key, value in new.items()}
    if isinstance(new, list):
        return [_unmask(value, old[i] if isinstance(old, list) and i < len(old) else None) for i, value in enumerate(new)]
    return new


def with_implied_groups(config: VigilConfig) -> VigilConfig:
    """Groups named by components but not listed are part of the file too (as they are, or new)."""
    listed = {group.name for group in config.component_groups}
    implied = [name for name in dict.fromkeys(c.group for c in config.components if c.group) if name not in listed]
    if not implied:
        return config
    existing = {group.name: group for group in ComponentGroup.objects.filter(name__in=implied)}
    extra = [ComponentGroupConfig(name=name, description=existing[name].description, position=existing[name].position,
                                  public=existing[name].is_public) if name in existing else ComponentGroupConfig(name=name) for name in implied]
    return config.model_copy(update={"component_groups": [*config.component_groups, *extra]})


def plan(config: VigilConfig, *, prune: bool) -> Plan:
    config = with_implied_groups(config)
    result = Plan()
    current = export(reveal=True)
    for section in SECTIONS:
        existing = {key_of(item): canonical(section, item) for item in getattr(current, section)}
        wanted = [(key_of(item), _unmask(canonical(section, item), existing.get(key_of(item)))) for item in getattr(config, section)]
        for name, data in wanted:
            if name not in existing:
                result.changes.append(Change(section, name, "create"))
            elif existing[name] != data:
                differing = sorted(key for key in data if data[key] != existing[name].get(key))
                result.changes.append(Change(section, name, "update", differing))
            else:
                result.unchanged += 1
        missing = [name for name in existing if name not in {name for name, _ in wanted}]
        if prune:
            result.changes.extend(Change(section, name, "delete") for name in missing)
        elif missing:
            result.kept[section] = missing
    return result


# --- Writing ----------------------------------------------------------------------------------------------


class _Writer:
    """Applies one file; every problem is recorded against the item's line, then raised together."""

    def __init__(self, config: VigilConfig, source: Source, by: Any, now: datetime) -> None:
        self.config, self.source, self.by, self.now = config, source, by, now
        self.warnings: list[str] = []

    def lookup(self, model: Any, names: list[str] | None, path: tuple[Any, ...], *, field_name: str = "name") -> list[Any]:
        names = names or []
        found = {getattr(obj, field_name): obj for obj in model._default_manager.filter(**{f"{field_name}__in": names})}
        missing = [name for name in names if name not in found]
        if missing:
            label = model._meta.verbose_name
            self.source.problem(path, f"no {label} named {', '.join(map(repr, missing))}; add it to the file or create it first")
        return [found[name] for name in names if name in found]

    def one(self, model: Any, name: str | None, path: tuple[Any, ...]) -> Any:
        return (self.lookup(model, [name], path) or [None])[0] if name else None

    def secret(self, new: Any, old: Any, path: tuple[Any, ...]) -> Any:
        if new == SECRET_MASK:
            if not old:
                self.source.problem(path, "the value is masked (********); write the secret, or better env:NAME")
            return old
        for name in missing_references(new):
            self.warnings.append(f"{self.source.where(path)} reads ${name}, which is not set here; set it where Vigil's worker runs")
        return new

    def settings(self, new: Any, old: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(new, dict):
            old = old if isinstance(old, dict) else {}
            return {key: (self.secret(value, old.get(key), (*path, key)) if is_secret_field(str(key)) and isinstance(value, str)
                          else self.settings(value, old.get(key), (*path, key))) for key, value in new.items()}
        if isinstance(new, list):
            old = old if isinstance(old, list) else []
            return [self.settings(value, old[i] if i < len(old) else None, (*path, i)) for i, value in enumerate(new)]
        return new

    def save(self, obj: Any, path: tuple[Any, ...], write: Callable[[], Any], fields: dict[str, str] | None = None) -> Any:
        """Run write(); a model's ValidationError becomes problems on the item's fields (model field -> file field)."""
        try:
            with transaction.atomic():
                return write()
        except ValidationError as exc:
            names = {model_field: file_field for file_field, model_field in (fields or {}).items()}
            for model_field, messages in (exc.message_dict.items() if hasattr(exc, "error_dict") else [("", exc.messages)]):
                target = names.get(model_field, model_field)
                self.source.problem((*path, target) if target and target != "__all__" else path, " ".join(messages))
        except ValueError as exc:
            self.source.problem(path, str(exc))
        return None

    # One method per section -------------------------------------------------------------------

    def component_groups(self, index: int, item: ComponentGroupConfig, group: ComponentGroup | None) -> None:
        group = group or ComponentGroup(name=item.name)
        group.description, group.position, group.is_public = item.description, item.position, item.public

        def write() -> None:
            group.full_clean()
            group.save()
        self.save(group, ("component_groups", index), write, {"public": "is_public"})

    def components(self, index: int, item: ComponentConfig, component: Component | None) -> None:
        path = ("components", index)
        component = component or Component(name=item.name)
        if item.group:
            component.group, _ = ComponentGroup.objects.get_or_create(name=item.group)
        else:
            component.group = None
        component.description, component.position, component.is_public, component.status = item.description, item.position, item.public, item.status

        def write() -> None:
            component.full_clean()
            component.save()
            component_refresh(component_ids=[component.pk], now=self.now)
        self.save(component, path, write, {"public": "is_public"})

    def monitors(self, index: int, item: MonitorConfig, monitor: Monitor | None) -> None:
        path = ("monitors", index)
        creating = monitor is None
        monitor = monitor or Monitor(name=item.name)
        settings = dict(item.settings)
        for short, key in EXPECT_SETTINGS.items():
            value = getattr(item.expect, short, None) if item.expect else None
            if value is not None:
                settings[key] = round(value * 1000) if key.startswith("latency_") else value
        monitor.settings = self.settings(settings, monitor.settings, (*path, "settings"))
        monitor.kind, monitor.target = item.kind, item.url or item.target
        monitor.interval_seconds, monitor.timeout_seconds = round(item.interval), float(item.timeout)
        monitor.retries, monitor.retry_interval_seconds, monitor.recovery_confirmations = item.retries, round(item.retry_interval), item.recovery_confirmations
        monitor.quorum = item.quorum
        monitor.component = self.one(Component, item.component, (*path, "component"))
        heartbeat = item.heartbeat or HeartbeatConfig()
        monitor.heartbeat_period_seconds, monitor.heartbeat_grace_seconds = round(heartbeat.period), round(heartbeat.grace)
        regions = []
        for name in item.regions:
            region, made = Region.objects.get_or_create(name=name, defaults={"label": name})
            if made:
                self.warnings.append(f"region {name!r} is new: start a probe worker for it (docs/operations.md) or its checks wait")
            regions.append(region)

        def write() -> None:
            if creating and item.paused:
                monitor.paused, monitor.state = True, Monitor.State.PAUSED
            monitor_services.monitor_save(monitor=monitor, now=self.now)
            monitor.regions.set(regions or [monitor_services.default_region()])
            monitor.tags.set([Tag.objects.get_or_create(name=name.lower())[0] for name in item.tags])
            if not creating and monitor.paused != item.paused:
                monitor_services.monitor_set_paused(monitor_ids=[monitor.pk], paused=item.paused, now=self.now)
        self.save(monitor, path, write, {"interval": "interval_seconds", "timeout": "timeout_seconds", "retry_interval": "retry_interval_seconds",
                                         "target": "target", "settings": "settings"})

    def channels(self, index: int, item: ChannelConfig, channel: Channel | None) -> None:
        path = ("channels", index)
        channel = channel or Channel(name=item.name)
        old = channel.config or {}
        config = {}
        for key in CHANNEL_KEYS:
            value = getattr(item, key)
            if value is not None:
                config[key] = self.secret(value, old.get(key), (*path, key)) if key in Channel.SECRET_KEYS else value
        channel.kind, channel.config, channel.enabled = item.kind, config, item.enabled

        def write() -> None:
            channel.full_clean()
            channel.save()
        self.save(channel, path, write, {})

    def escalation_policies(self, index: int, item: EscalationPolicyConfig, policy: EscalationPolicy | None) -> None:
        path = ("escalation_policies", index)
        policy = policy or EscalationPolicy(name=item.name)
        policy.repeat = item.repeat
        steps = []
        for number, step in enumerate(item.steps):
            if step.wait % 60:
                self.source.problem((*path, "steps", number, "wait"), "escalation waits are whole minutes, e.g. 5m or 15m")
            steps.append((step, self.lookup(Channel, step.channels, (*path, "steps", number, "channels")),
                          self.one(OnCallSchedule, step.schedule, (*path, "steps", number, "schedule"))))

        def write() -> None:
            policy.full_clean()
            policy.save()
            policy.steps.all().delete()
            for position, (step, channels, schedule) in enumerate(steps):
                row = EscalationStep.objects.create(policy=policy, position=position, schedule=schedule, wait_minutes=round(step.wait) // 60)
                row.channels.set(channels)
        self.save(policy, path, write)

    def alert_rules(self, index: int, item: AlertRuleConfig, rule: AlertRule | None) -> None:
        path = ("alert_rules", index)
        rule = rule or AlertRule(name=item.name)
        monitors = self.lookup(Monitor, item.monitors, (*path, "monitors"))
        components = self.lookup(Component, item.components, (*path, "components"))
        channels = self.lookup(Channel, item.channels, (*path, "channels"))
        rule.escalation_policy = self.one(EscalationPolicy, item.escalation_policy, (*path, "escalation_policy"))
        for name in ("enabled", "states", "monitor_kinds", "severity", "labels", "runbook_url", "runbook_text", "group_by",
                     "notify_resolved", "hold_flapping"):
            setattr(rule, name, getattr(item, name))
        rule.for_seconds, rule.group_wait_seconds, rule.group_interval_seconds = round(item.for_), round(item.group_wait), round(item.group_interval)
        rule.repeat_interval_seconds, rule.resolve_after_seconds = round(item.repeat_interval), round(item.resolve_after)

        def write() -> None:
            rule.full_clean()
            rule.save()
            rule.monitors.set(monitors)
            rule.components.set(components)
            rule.channels.set(channels)
            rule.tags.set([Tag.objects.get_or_create(name=name.lower())[0] for name in item.tags])
        self.save(rule, path, write, {"for": "for_seconds"})

    def status_pages(self, index: int, item: StatusPageConfig, page: StatusPage | None) -> None:
        path = ("status_pages", index)
        page = page or StatusPage(slug=item.slug)
        components = self.lookup(Component, item.components, (*path, "components"))
        page.title, page.description, page.domain, page.is_default = item.title, item.description, item.domain, item.default
        page.visibility = StatusPage.Visibility.PRIVATE if item.private else StatusPage.Visibility.PUBLIC
        page.time_zone, page.brand_colour, page.logo_url, page.support_url = item.time_zone, item.brand_colour, item.logo_url, item.support_url
        page.footer_links = [link.model_dump() for link in item.footer_links]
        page.allow_subscriptions = item.subscriptions
        if item.private and not page.access_token_hash:
            self.warnings.append(f"status page {item.slug!r} is private: make its access token in the admin")
        self.save(page, path, lambda: page_save(page=page, component_ids=[c.pk for c in components]),
                  {"default": "is_default", "private": "visibility", "subscriptions": "allow_subscriptions"})

    def slos(self, index: int, item: SLOConfig, slo: SLO | None) -> None:
        path = ("slos", index)
        slo = slo or SLO(name=item.name)
        monitors = self.lookup(Monitor, item.monitors, (*path, "monitors"))
        slo.component = self.one(Component, item.component, (*path, "component"))
        slo.alert_rule = self.one(AlertRule, item.alert_rule, (*path, "alert_rule"))
        owners = self.lookup(get_user_model(), [item.owner], (*path, "owner"), field_name="username") if item.owner else []
        slo.owner = owners[0] if owners else None
        slo.description, slo.kind, slo.objective, slo.window = item.description, item.kind, item.objective, WINDOWS[item.window]
        slo.latency_threshold_ms = round(item.latency_threshold * 1000) if item.latency_threshold is not None else None
        slo.time_zone, slo.exclude_maintenance = item.time_zone, item.exclude_maintenance
        slo.min_events, slo.min_bad_events = item.min_events, item.min_bad_events

        def write() -> None:
            slo.full_clean()
            slo.save()
            slo.monitors.set(monitors)
        self.save(slo, path, write, {"latency_threshold": "latency_threshold_ms"})


DELETE_ORDER = ("slos", "status_pages", "alert_rules", "escalation_policies", "channels", "monitors", "components", "component_groups")
MODELS = {"component_groups": ComponentGroup, "components": Component, "monitors": Monitor, "channels": Channel,
          "escalation_policies": EscalationPolicy, "alert_rules": AlertRule, "status_pages": StatusPage, "slos": SLO}


def apply(config: VigilConfig, source: Source, *, prune: bool, dry_run: bool, by: Any = None, now: datetime | None = None) -> Plan:
    """Make the database say what the file says. All or nothing: any problem rolls everything back.
    A dry run does the same work and rolls it back, so it finds every problem a real run would."""
    now = now or timezone.now()
    config = with_implied_groups(config)
    result = plan(config, prune=prune)
    writer = _Writer(config, source, by, now)
    try:
        with transaction.atomic():
            for section in SECTIONS:
                model = MODELS[section]
                key = "slug" if section == "status_pages" else "name"
                items = getattr(config, section)
                existing = {getattr(obj, key): obj for obj in model._default_manager.filter(**{f"{key}__in": [key_of(i) for i in items]})}
                changed = {change.name for change in result.changes if change.section == section}
                for index, item in enumerate(items):
                    if key_of(item) in changed:
                        getattr(writer, section)(index, item, existing.get(key_of(item)))
            if prune:
                for section in DELETE_ORDER:
                    names = [change.name for change in result.changes if change.section == section and change.action == "delete"]
                    key = "slug" if section == "status_pages" else "name"
                    for obj in MODELS[section]._default_manager.filter(**{f"{key}__in": names}):
                        if section == "monitors":
                            monitor_services.monitor_delete(monitor=obj)
                        else:
                            obj.delete()
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
