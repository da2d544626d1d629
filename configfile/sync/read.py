"""Reading the database: one reader per section (a model object -> its config item), export and dump."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from django.conf import settings as django_settings
from pydantic import ValidationError

from alerting.models import AlertRule, Channel, EscalationPolicy, Integration, SeverityPaging
from configfile.schema import (
    CHANNEL_KEYS,
    EXPECT_SETTINGS,
    SEVERITY_KEYS,
    AlertRuleConfig,
    AudienceTemplatesConfig,
    ChannelConfig,
    CommunicationTemplatesConfig,
    ComponentConfig,
    ComponentGroupConfig,
    EscalationPolicyConfig,
    EscalationStepConfig,
    ExpectConfig,
    HeartbeatConfig,
    IntegrationConfig,
    MonitorConfig,
    SeverityPolicyConfig,
    SLOConfig,
    StatusPageConfig,
    VigilConfig,
)
from configfile.source import ConfigError
from core.secrets import SECRET_MASK, is_env_reference, mask_secrets
from incidents.models import CommunicationTemplate, Component, ComponentGroup, SeverityPolicy
from monitors.bounds import default_retry_interval
from monitors.models import Monitor
from slo.models import SLO
from statuspage.models import StatusPage

WINDOWS = {"7d": SLO.Window.ROLLING_7, "28d": SLO.Window.ROLLING_28, "30d": SLO.Window.ROLLING_30, "calendar_month": SLO.Window.CALENDAR_MONTH}
HTTP_KINDS = ("http", "health_json")


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
        timing: dict[str, Any] = ({"schedule": monitor.heartbeat_schedule} if monitor.heartbeat_schedule
                                  else {"period": monitor.heartbeat_period_seconds})  # a schedule wins: the period is not written
        heartbeat = HeartbeatConfig(**timing, time_zone=monitor.heartbeat_time_zone, grace=monitor.heartbeat_grace_seconds,
                                    ping_token=monitor.ping_token)
    return MonitorConfig(
        name=monitor.name, kind=monitor.kind, target="" if monitor.kind in HTTP_KINDS else monitor.target,
        url=monitor.target if monitor.kind in HTTP_KINDS else None, interval=monitor.interval_seconds, timeout=monitor.timeout_seconds,
        retries=monitor.retries, retry_interval=None if monitor.retry_interval_seconds == default_retry_interval(monitor.interval_seconds)
        else monitor.retry_interval_seconds, recovery_confirmations=monitor.recovery_confirmations,
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
        tags=sorted(t.name for t in rule.tags.all()), for_=rule.for_seconds, deploy_watch_for=rule.deploy_watch_for_seconds,
        deploy_watch=rule.deploy_watch_minutes * 60, severity=rule.severity, labels=dict(rule.labels or {}),
        runbook_url=rule.runbook_url, runbook_text=rule.runbook_text, channels=sorted(c.name for c in rule.channels.all()),
        escalation_policy=rule.escalation_policy.name if rule.escalation_policy else None, group_by=list(rule.group_by or []),
        group_wait=rule.group_wait_seconds, group_interval=rule.group_interval_seconds, repeat_interval=rule.repeat_interval_seconds,
        resolve_after=rule.resolve_after_seconds, notify_resolved=rule.notify_resolved, hold_flapping=rule.hold_flapping,
    )


# A bearer token Vigil keeps only as a hash is compared by its hash: a file's literal token is
# hashed the same way (compare.canonical), so an unchanged file plans no change.
STORED_TOKEN_PREFIX = "sha256:"


def _integration(integration: Integration, reveal: bool) -> IntegrationConfig:
    if integration.kind in Integration.SIGNED_KINDS:
        secret = integration.signing_secret
        token = secret if reveal or is_env_reference(secret) else (SECRET_MASK if secret else None)
    elif integration.token_env:
        token = integration.token_env
    elif integration.token_hash:
        token = f"{STORED_TOKEN_PREFIX}{integration.token_hash}" if reveal else SECRET_MASK
    else:
        token = None
    return IntegrationConfig(name=integration.name, kind=integration.kind, rule=integration.rule.name if integration.rule else None,
                             token=token, enabled=integration.enabled)


def _page(page: StatusPage, _reveal: bool) -> StatusPageConfig:
    components = [link.component.name for link in page.page_components.select_related("component").order_by("position", "pk")]
    return StatusPageConfig(
        slug=page.slug, title=page.title, description=page.description, domain=page.domain, components=components,
        default=page.is_default, private=page.is_private, time_zone=page.time_zone, clock=page.clock, brand_colour=page.brand_colour,
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
    # A severity policy's own rule is written under severity_policy, not as a rule.
    "alert_rules": (lambda: AlertRule.objects.filter(severity_paging__isnull=True).select_related("escalation_policy")
                    .prefetch_related("monitors", "components", "tags", "channels").order_by("name"), _rule),
    "integrations": (lambda: Integration.objects.select_related("rule").order_by("name"), _integration),
    "status_pages": (lambda: StatusPage.objects.order_by("slug"), _page),
    "slos": (lambda: SLO.objects.select_related("component", "owner", "alert_rule").prefetch_related("monitors").order_by("name"), _slo),
}


def key_of(item: Any) -> str:
    return getattr(item, "slug", None) or item.name


def severity_policy() -> SeverityPolicyConfig | None:
    """The stored severity policy, or None while it is the guides' defaults paging nobody (the file then leaves it out)."""
    targets = {row.severity: row for row in SeverityPolicy.objects.all()}
    paging = {row.severity: row.rule for row in SeverityPaging.objects.select_related("rule__escalation_policy").prefetch_related("rule__channels")}
    items = {}
    for key, impact in SEVERITY_KEYS.items():
        fields: dict[str, Any] = {}
        if impact in targets:
            row = targets[impact]
            fields.update(ack_within=row.ack_within_seconds, first_update_within=row.first_update_within_seconds,
                          postmortem_within=row.postmortem_within_seconds)
        if impact in paging:
            rule = paging[impact]
            fields.update(channels=sorted(c.name for c in rule.channels.all()),
                          escalation_policy=rule.escalation_policy.name if rule.escalation_policy else None)
        items[key] = fields
    config = SeverityPolicyConfig(**items)
    return None if config == SeverityPolicyConfig() else config


def communication_templates() -> CommunicationTemplatesConfig | None:
    """The edited templates, or None while every one is the built-in text."""
    rows = list(CommunicationTemplate.objects.all())
    if not rows:
        return None
    texts: dict[str, dict[str, str]] = {"public": {}, "internal": {}}
    for row in rows:
        texts[row.audience][row.status] = row.text
    return CommunicationTemplatesConfig(**{audience: AudienceTemplatesConfig(**items) for audience, items in texts.items()})


def export(*, reveal: bool = False) -> VigilConfig:
    """The database as a config; secrets masked unless they are env:NAME references (reveal: for comparing only)."""
    problems: list[str] = []
    sections = {section: [item for obj in rows() if (item := _read(section, obj, reader, reveal, problems)) is not None]
                for section, (rows, reader) in READERS.items()}
    if problems:
        raise ConfigError(problems)
    return VigilConfig(**sections, severity_policy=severity_policy(), communication_templates=communication_templates())


def _read(section: str, obj: Any, reader: Callable[[Any, bool], Any], reveal: bool, problems: list[str]) -> Any:
    """One item; a row stored before a limit was tightened (monitors.bounds) becomes a problem naming it, not a crash."""
    try:
        return reader(obj, reveal)
    except ValidationError as exc:
        problems.extend(f"{section}: {obj}: {'.'.join(map(str, error['loc']))}: {error['msg']}; change it in the admin first"
                        for error in exc.errors())
        return None


def dump(config: VigilConfig) -> str:
    """YAML with only what differs from the defaults, sections in the schema's order."""
    data = config.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data = {"version": 1, **{name: data[name] for name in VigilConfig.model_fields if name in data and name != "version"}}
    header = "# Vigil configuration: manage.py import_config <file> [--dry-run] [--prune]\n" \
             "# yaml-language-server: $schema=vigil-config.schema.json\n"
    names = [item["name"] for item in data.get("monitors", []) if item.get("kind") == Monitor.Kind.HEARTBEAT]
    ping_urls = {monitor.name: monitor.ping_url for monitor in Monitor.objects.filter(kind=Monitor.Kind.HEARTBEAT, name__in=names)}
    # Section by section, so that each heartbeat can carry its ping URL as a comment (a comment is not
    # part of the data: importing the file and exporting again gives the same text).
    text = header
    for section, value in data.items():
        if section != "monitors" or not value:
            text += _yaml({section: value})
            continue
        text += "monitors:\n"
        for item in value:
            if ping_urls.get(item["name"]):
                text += f"# ping URL: {ping_urls[item['name']]} (append /start, /fail or /<exit code>)\n"
            text += _yaml([item])
    return text


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
