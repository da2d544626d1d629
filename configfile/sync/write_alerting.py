"""Writing channels, escalation policies, alert rules, integrations and the severity policy."""

from __future__ import annotations

from alerting import services as alerting_services
from alerting.models import AlertRule, Channel, EscalationPolicy, EscalationStep, Integration, OnCallSchedule
from configfile.schema import (
    CHANNEL_KEYS,
    SEVERITY_KEYS,
    AlertRuleConfig,
    ChannelConfig,
    CommunicationTemplatesConfig,
    EscalationPolicyConfig,
    IntegrationConfig,
    SeverityPolicyConfig,
)
from configfile.sync.read import STORED_TOKEN_PREFIX
from configfile.sync.writer import Writer
from incidents import services as incident_services
from incidents.models import Component
from monitors.models import Monitor, Tag


def write_channel(writer: Writer, index: int, item: ChannelConfig, channel: Channel | None) -> None:
    path = ("channels", index)
    channel = channel or Channel(name=item.name)
    old = channel.config or {}
    config = {}
    for key in CHANNEL_KEYS:
        value = getattr(item, key)
        if value is not None:
            config[key] = writer.secret(value, old.get(key), (*path, key)) if key in Channel.SECRET_KEYS else value
    channel.kind, channel.config, channel.enabled = item.kind, config, item.enabled

    writer.save(channel, path, lambda: alerting_services.channel_save(channel=channel, by=writer.by), {})


def write_escalation_policy(writer: Writer, index: int, item: EscalationPolicyConfig, policy: EscalationPolicy | None) -> None:
    path = ("escalation_policies", index)
    policy = policy or EscalationPolicy(name=item.name)
    policy.repeat = item.repeat
    steps = []
    for number, step in enumerate(item.steps):
        if step.wait % 60:
            writer.source.problem((*path, "steps", number, "wait"), "escalation waits are whole minutes, e.g. 5m or 15m")
        steps.append((step, writer.lookup(Channel, step.channels, (*path, "steps", number, "channels")),
                      writer.one(OnCallSchedule, step.schedule, (*path, "steps", number, "schedule"))))

    def write() -> None:
        policy.full_clean()
        policy.save()
        policy.steps.all().delete()
        for position, (step, channels, schedule) in enumerate(steps):
            row = EscalationStep.objects.create(policy=policy, position=position, schedule=schedule, wait_minutes=round(step.wait) // 60)
            row.channels.set(channels)
    writer.save(policy, path, write)


def write_alert_rule(writer: Writer, index: int, item: AlertRuleConfig, rule: AlertRule | None) -> None:
    path = ("alert_rules", index)
    rule = rule or AlertRule(name=item.name)
    monitors = writer.lookup(Monitor, item.monitors, (*path, "monitors"))
    components = writer.lookup(Component, item.components, (*path, "components"))
    channels = writer.lookup(Channel, item.channels, (*path, "channels"))
    rule.escalation_policy = writer.one(EscalationPolicy, item.escalation_policy, (*path, "escalation_policy"))
    for name in ("enabled", "states", "monitor_kinds", "severity", "labels", "runbook_url", "runbook_text", "group_by",
                 "notify_resolved", "hold_flapping"):
        setattr(rule, name, getattr(item, name))
    rule.for_seconds, rule.group_wait_seconds, rule.group_interval_seconds = round(item.for_), round(item.group_wait), round(item.group_interval)
    rule.repeat_interval_seconds, rule.resolve_after_seconds = round(item.repeat_interval), round(item.resolve_after)
    rule.deploy_watch_for_seconds = _seconds(item.deploy_watch_for)
    if item.deploy_watch % 60:
        writer.source.problem((*path, "deploy_watch"), "the deploy watch is whole minutes, e.g. 30m or 1h")
    rule.deploy_watch_minutes = round(item.deploy_watch) // 60

    def write() -> None:
        rule.full_clean()
        rule.save()
        rule.monitors.set(monitors)
        rule.components.set(components)
        rule.channels.set(channels)
        rule.tags.set([Tag.objects.get_or_create(name=name.lower())[0] for name in item.tags])
    writer.save(rule, path, write, {"for": "for_seconds"})


def write_integration(writer: Writer, index: int, item: IntegrationConfig, integration: Integration | None) -> None:
    path = ("integrations", index)
    integration = integration or Integration(name=item.name)
    integration.kind, integration.enabled = item.kind, item.enabled
    integration.rule = writer.one(AlertRule, item.rule, (*path, "rule"))
    token = item.token
    if token is not None:
        stored = integration.has_token or bool(integration.signing_secret)
        token = writer.secret(token, "stored" if stored else None, (*path, "token"))
        if token in ("stored", None) or str(token).startswith(STORED_TOKEN_PREFIX):
            token = None  # masked in the file: the stored token stays
    writer.save(integration, path, lambda: alerting_services.integration_save(integration=integration, token=token, by=writer.by),
                {"signing_secret": "token", "token": "token", "rule": "rule"})


def _seconds(value: float | None) -> int | None:
    return None if value is None else round(value)


def write_severity_policy(writer: Writer, policy: SeverityPolicyConfig) -> None:
    """Every severity, as the file says (a severity left out: the guides' defaults, paging nobody)."""
    for key, impact in SEVERITY_KEYS.items():
        item = getattr(policy, key)
        path = ("severity_policy", key)
        channels = writer.lookup(Channel, item.channels, (*path, "channels"))
        escalation = writer.one(EscalationPolicy, item.escalation_policy, (*path, "escalation_policy"))

        def write(item=item, impact=impact, channels=channels, escalation=escalation) -> None:  # type: ignore[no-untyped-def]
            incident_services.severity_policy_save(
                impact=impact, ack_within_seconds=_seconds(item.ack_within), first_update_within_seconds=_seconds(item.first_update_within),
                postmortem_within_seconds=_seconds(item.postmortem_within), by=writer.by)
            alerting_services.severity_paging_save(impact=impact, channels=channels, escalation_policy=escalation)
        writer.save(None, path, write, {"ack_within_seconds": "ack_within", "first_update_within_seconds": "first_update_within",
                                        "postmortem_within_seconds": "postmortem_within"})


def write_communication_templates(writer: Writer, templates: CommunicationTemplatesConfig) -> None:
    """Every template as the file says: a status left out goes back to the built-in text."""
    for audience in ("public", "internal"):
        texts = getattr(templates, audience)
        for status in ("investigating", "identified", "monitoring", "resolved"):
            text = getattr(texts, status) or ""
            writer.save(None, ("communication_templates", audience, status),
                        lambda audience=audience, status=status, text=text: incident_services.communication_template_save(  # type: ignore[misc]
                            audience=audience, status=status, text=text, by=writer.by))
