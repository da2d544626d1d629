"""The shape of vigil.yaml, as pydantic models: they validate the file, name the field of
every error, and generate the JSON Schema published for editors (docs/vigil-config.schema.json).

Objects are identified by name (status pages by slug); renaming one in the file deletes the
old object and creates a new one. Durations are written as 30s, 5m, 1h, 1d (or seconds)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from incidents.models import SEVERITY_DEFAULTS
from monitors import bounds

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("write a duration like 30s, 5m, 1h or 1d")
    if isinstance(value, (int, float)):
        return value
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a duration; write it like 30s, 5m, 1h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def format_duration(seconds: float) -> str | float:
    """The shortest exact spelling: 60 -> 1m, 90 -> 90s, 0.5 -> 500ms."""
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms" if (seconds * 1000) == int(seconds * 1000) else seconds
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


_DURATION_SCHEMA = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": _DURATION.pattern}],
                    "description": "Seconds, or 30s / 5m / 1h / 1d."}
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0, le=366 * 86400),
                     PlainSerializer(format_duration), WithJsonSchema(_DURATION_SCHEMA)]
Name = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[^\x00]*$")]
Slug = Annotated[str, Field(pattern=r"^[-a-zA-Z0-9_]{1,50}$")]
Secret = Annotated[str, Field(max_length=2048, description="A value, or env:NAME to read it from the environment where it is used.")]
ComponentStatus = Literal["operational", "degraded_performance", "under_maintenance", "partial_outage", "major_outage"]
MonitorKind = Literal["http", "health_json", "tls", "tcp", "dns", "heartbeat", "postgres", "redis", "metric"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ComponentGroupConfig(Strict):
    name: Name
    description: Annotated[str, Field(max_length=300)] = ""
    position: Annotated[int, Field(ge=0, le=100_000)] = 0
    public: bool = True


class ComponentConfig(Strict):
    name: Name
    group: Name | None = Field(None, description="A component group's name; made if missing.")
    description: Annotated[str, Field(max_length=300)] = ""
    position: Annotated[int, Field(ge=0, le=100_000)] = 0
    public: bool = Field(True, description="Private components never appear on public pages.")
    status: ComponentStatus = "operational"


class ExpectConfig(Strict):
    """HTTP conditions (the same as settings.expected_status, keyword, ...)."""

    status: list[int | str] | None = Field(None, description='Codes or ranges, e.g. [200, "300-399"].')
    keyword: str | None = None
    keyword_absent: str | None = None
    json_: str | None = Field(None, alias="json", description='A JSON condition, e.g. $.status == "healthy".')
    max_latency: Duration | None = Field(None, description="Slower is down.")
    warn_latency: Duration | None = Field(None, description="Slower is degraded.")


# expect keys -> monitor settings keys (latencies are kept in ms there).
EXPECT_SETTINGS = {"status": "expected_status", "keyword": "keyword", "keyword_absent": "keyword_absent", "json_": "json_path",
                   "max_latency": "latency_down_ms", "warn_latency": "latency_warn_ms"}


def _duration_schema(bound: bounds.Bound) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [{"type": "number", **bound.json_schema()}, {"type": "string", "pattern": _DURATION.pattern}],
                           "description": f"Seconds, or 30s / 5m / 1h / 1d; {bound.allowed()}."})


# A monitor's durations, within the bounds the model, the admin and the API use (monitors.bounds).
_parsed, _written = BeforeValidator(parse_duration), PlainSerializer(format_duration)
Interval = Annotated[float, _parsed, bounds.INTERVAL, _written, _duration_schema(bounds.INTERVAL)]
Timeout = Annotated[float, _parsed, bounds.TIMEOUT, _written, _duration_schema(bounds.TIMEOUT)]
RetryInterval = Annotated[float, _parsed, bounds.RETRY_INTERVAL, _written, _duration_schema(bounds.RETRY_INTERVAL)]
HeartbeatPeriod = Annotated[float, _parsed, bounds.HEARTBEAT_PERIOD, _written, _duration_schema(bounds.HEARTBEAT_PERIOD)]
HeartbeatGrace = Annotated[float, _parsed, bounds.HEARTBEAT_GRACE, _written, _duration_schema(bounds.HEARTBEAT_GRACE)]
MonitorName = Annotated[str, Field(min_length=1, max_length=bounds.NAME_MAX_LENGTH, pattern=r"^[^\x00]*$")]
Target = Annotated[str, Field(max_length=bounds.TARGET_MAX_LENGTH)]


class HeartbeatConfig(Strict):
    """Pings expected every period, or after each run of a cron schedule (one or the other)."""

    period: HeartbeatPeriod = Field(3600, description="A ping is expected this long after the last one.")
    schedule: bounds.HeartbeatSchedule | None = Field(
        None, description='A cron expression, e.g. "0 3 * * *": a ping is expected after each run (instead of a period).')
    time_zone: bounds.HeartbeatTimeZone = Field("UTC", description="The schedule's time zone, e.g. Europe/Berlin.")
    grace: HeartbeatGrace = Field(300, description="Late (down) when no ping comes within this long after the expected one.")
    ping_token: UUID | None = Field(None, description="The token in the ping URL (/ping/<token>), written by export_config so that "
                                                     "a file imported into another Vigil keeps its jobs' URLs; absent: a new monitor gets a new one.")

    @model_validator(mode="after")
    def _period_or_schedule(self) -> HeartbeatConfig:
        if self.schedule and "period" in self.model_fields_set:
            raise PydanticCustomError("period_or_schedule", "a heartbeat has a period or a schedule, not both: remove one of them")
        return self


class MonitorConfig(Strict):
    name: MonitorName
    kind: MonitorKind
    target: Target = Field("", description="URL, host:port, host name, DSN ... (docs/monitors.md).")
    url: Target | None = Field(None, description="Same as target, for HTTP monitors.")
    interval: Interval = 60
    timeout: Timeout = 10
    retries: Annotated[int, bounds.RETRIES] = 2
    retry_interval: RetryInterval | None = Field(None, description=f"How soon a failed check is confirmed. {bounds.RETRY_INTERVAL_DEFAULT_TEXT}")
    recovery_confirmations: Annotated[int, bounds.RECOVERY_CONFIRMATIONS] = 2
    regions: list[Slug] = Field(default_factory=list, description="Probe regions; empty: the default region.")
    quorum: Annotated[int, bounds.QUORUM] = 0
    component: Name | None = None
    tags: list[Slug] = Field(default_factory=list)
    paused: bool = False
    expect: ExpectConfig | None = None
    heartbeat: HeartbeatConfig | None = None
    settings: dict[str, Any] = Field(default_factory=dict, description="Other kind-specific options; secrets as env:NAME.")


class FooterLink(Strict):
    label: Annotated[str, Field(min_length=1, max_length=60)]
    url: Annotated[str, Field(min_length=1, max_length=500)]


class StatusPageConfig(Strict):
    slug: Slug
    title: Annotated[str, Field(min_length=1, max_length=120)]
    description: Annotated[str, Field(max_length=300)] = ""
    domain: Annotated[str, Field(max_length=253)] | None = None
    components: list[Name] = Field(default_factory=list, description="Component names, in the order shown.")
    default: bool = False
    private: bool = False
    time_zone: str = "UTC"
    clock: Literal["24h", "12h"] = Field("24h", description="How the page writes times (14:30 or 2:30 PM); the zone follows.")
    brand_colour: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = "#1f6feb"
    logo_url: str = ""
    support_url: str = ""
    footer_links: list[FooterLink] = Field(default_factory=list)
    subscriptions: bool = True


class ChannelConfig(Strict):
    name: Name
    kind: Literal["slack", "discord", "teams", "pagerduty", "email", "webhook", "apprise"]
    url: Secret | None = Field(None, description="slack, discord, teams, webhook, apprise (an Apprise URL such as tgram://...), "
                                                 "and an optional PagerDuty events URL.")
    routing_key: Secret | None = Field(None, description="pagerduty.")
    secret: Secret | None = Field(None, description="webhook: signs each request (X-Vigil-Signature).")
    to: list[str] | None = Field(None, description="email: addresses.")
    enabled: bool = True


CHANNEL_KEYS = ("url", "routing_key", "secret", "to")


class EscalationStepConfig(Strict):
    channels: list[Name] = Field(default_factory=list)
    schedule: Name | None = Field(None, description="An on-call schedule's name: whoever is on call gets an email.")
    wait: Duration = Field(900, description="Wait this long for an acknowledgement before the next step.")


class EscalationPolicyConfig(Strict):
    name: Name
    repeat: Annotated[int, Field(ge=0, le=100)] = 0
    steps: list[EscalationStepConfig] = Field(min_length=1)


class AlertRuleConfig(Strict):
    name: Name
    enabled: bool = True
    states: list[Literal["down", "degraded"]] = Field(default=["down"], min_length=1)
    monitor_kinds: list[MonitorKind] = Field(default_factory=list)
    monitors: list[Name] = Field(default_factory=list)
    components: list[Name] = Field(default_factory=list)
    tags: list[Slug] = Field(default_factory=list)
    for_: Duration = Field(0, alias="for", description="How long the state must hold before it fires.")
    deploy_watch_for: Duration | None = Field(None, description="Within deploy_watch after a deploy of the monitor's component, "
                                                                "fire after this long instead of `for`.")
    deploy_watch: Duration = Field(3600, description="How long the watch lasts after a deploy (whole minutes).")
    severity: Literal["critical", "warning", "info"] = "critical"
    labels: dict[str, str] = Field(default_factory=dict)
    runbook_url: str = ""
    runbook_text: str = ""
    channels: list[Name] = Field(default_factory=list)
    escalation_policy: Name | None = None
    group_by: list[str] = Field(default_factory=list)
    group_wait: Duration = 30
    group_interval: Duration = 300
    repeat_interval: Duration = 4 * 3600
    resolve_after: Duration = 300
    notify_resolved: bool = True
    hold_flapping: bool = True


class SLOConfig(Strict):
    name: Name
    description: Annotated[str, Field(max_length=300)] = ""
    component: Name | None = None
    kind: Literal["availability", "latency"] = "availability"
    latency_threshold: Duration | None = Field(None, description="latency SLOs: good below this (a rollup histogram bound, e.g. 500ms).")
    objective: Annotated[float, Field(gt=0, lt=100)]
    window: Literal["7d", "28d", "30d", "calendar_month"] = "30d"
    time_zone: str = "UTC"
    monitors: list[Name] = Field(min_length=1)
    exclude_maintenance: bool = True
    owner: str | None = Field(None, description="A username.")
    alert_rule: Name | None = Field(None, description="Burn-rate alerts go through this rule.")
    min_events: Annotated[int, Field(ge=0)] = 30
    min_bad_events: Annotated[int, Field(ge=0)] = 3


class IntegrationConfig(Strict):
    """An inbound source of alerts: its webhooks go through the rule's channels, grouping and escalation."""

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]
    kind: Literal["alertmanager", "grafana", "sentry", "pagerduty"]
    rule: Name | None = Field(None, description="The alert rule whose channels, grouping and escalation apply (all kinds but pagerduty).")
    token: Secret | None = Field(None, description="alertmanager, grafana: the bearer token their requests carry; sentry, pagerduty: "
                                                   "the signing secret. env:NAME reads it from the environment at each request; "
                                                   "left out, the integration keeps the token it has (issued on the staff page).")
    enabled: bool = True


class SeverityConfig(Strict):
    """One severity: who is paged on declare and its response targets (null: no target)."""

    channels: list[Name] = Field(default_factory=list, description="Channels paged when an incident of this severity is declared.")
    escalation_policy: Name | None = Field(None, description="Escalate the page until someone acknowledges.")
    ack_within: Duration | None = None
    first_update_within: Duration | None = None
    postmortem_within: Duration | None = Field(None, description="After resolution; null: no postmortem required.")


# Each severity's defaults are the guides' (incidents.models.SEVERITY_DEFAULTS, docs/incidents.md):
# left out, a target keeps them, so an exported file names only what a team changed.
class Sev1Config(SeverityConfig):
    ack_within: Duration | None = SEVERITY_DEFAULTS["critical"]["ack_within_seconds"]
    first_update_within: Duration | None = SEVERITY_DEFAULTS["critical"]["first_update_within_seconds"]
    postmortem_within: Duration | None = SEVERITY_DEFAULTS["critical"]["postmortem_within_seconds"]


class Sev2Config(SeverityConfig):
    ack_within: Duration | None = SEVERITY_DEFAULTS["major"]["ack_within_seconds"]
    first_update_within: Duration | None = SEVERITY_DEFAULTS["major"]["first_update_within_seconds"]
    postmortem_within: Duration | None = SEVERITY_DEFAULTS["major"]["postmortem_within_seconds"]


class Sev3Config(SeverityConfig):
    ack_within: Duration | None = SEVERITY_DEFAULTS["minor"]["ack_within_seconds"]
    first_update_within: Duration | None = SEVERITY_DEFAULTS["minor"]["first_update_within_seconds"]
    postmortem_within: Duration | None = SEVERITY_DEFAULTS["minor"]["postmortem_within_seconds"]


class Sev4Config(SeverityConfig):
    ack_within: Duration | None = SEVERITY_DEFAULTS["none"]["ack_within_seconds"]
    first_update_within: Duration | None = SEVERITY_DEFAULTS["none"]["first_update_within_seconds"]
    postmortem_within: Duration | None = SEVERITY_DEFAULTS["none"]["postmortem_within_seconds"]


class SeverityPolicyConfig(Strict):
    """sev1 (critical) .. sev4 (none); a severity left out keeps the guides' defaults and pages nobody."""

    sev1: Sev1Config = Field(default_factory=Sev1Config)
    sev2: Sev2Config = Field(default_factory=Sev2Config)
    sev3: Sev3Config = Field(default_factory=Sev3Config)
    sev4: Sev4Config = Field(default_factory=Sev4Config)


TemplateText = Annotated[str, Field(min_length=1, max_length=10_000, pattern=r"^[^\x00]*$")]


class AudienceTemplatesConfig(Strict):
    """Starting texts per status; a status left out keeps the built-in text."""

    investigating: TemplateText | None = None
    identified: TemplateText | None = None
    monitoring: TemplateText | None = None
    resolved: TemplateText | None = None


class CommunicationTemplatesConfig(Strict):
    """Placeholders: {components}, {duration}, {title}, {severity}, {commander}."""

    public: AudienceTemplatesConfig = Field(default_factory=AudienceTemplatesConfig)
    internal: AudienceTemplatesConfig = Field(default_factory=AudienceTemplatesConfig)


# sev1..sev4 in the file, the incident impact they mean.
SEVERITY_KEYS = {"sev1": "critical", "sev2": "major", "sev3": "minor", "sev4": "none"}


class ParameterConfig(Strict):
    """A value the file leaves to whoever imports it, written ${NAME} in the file's strings."""

    description: Annotated[str, Field(max_length=300)] = ""
    example: Annotated[str, Field(max_length=500)] = ""
    default: Annotated[str, Field(max_length=2048)] | None = Field(
        None, description="Used when no value is given; may name parameters declared above it, e.g. ${APP_URL}/metrics.")


ParameterName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]


class VigilConfig(Strict):
    """vigil.yaml: what `manage.py import_config` applies and `export_config` writes."""

    model_config = ConfigDict(extra="forbid", title="Vigil configuration", json_schema_extra={
        "$schema": "https://json-schema.org/draft/2020-12/schema"})

    version: Literal[1] = 1
    parameters: dict[ParameterName, ParameterConfig] = Field(
        default_factory=dict, description="Values given at import (import_config --set NAME=value, or the set-up page's form) "
                                          "and written ${NAME} in the file's strings; a file without this section is read as written.")
    component_groups: list[ComponentGroupConfig] = Field(default_factory=list)
    components: list[ComponentConfig] = Field(default_factory=list)
    monitors: list[MonitorConfig] = Field(default_factory=list)
    status_pages: list[StatusPageConfig] = Field(default_factory=list)
    channels: list[ChannelConfig] = Field(default_factory=list)
    escalation_policies: list[EscalationPolicyConfig] = Field(default_factory=list)
    alert_rules: list[AlertRuleConfig] = Field(default_factory=list)
    integrations: list[IntegrationConfig] = Field(default_factory=list)
    slos: list[SLOConfig] = Field(default_factory=list)
    severity_policy: SeverityPolicyConfig | None = Field(None, description="Paging and response targets per incident severity; "
                                                                           "left out, the stored policy stays as it is.")
    communication_templates: CommunicationTemplatesConfig | None = Field(
        None, description="Update texts, public and internal, per status; left out, the stored templates stay as they are.")


# The sections in the order they are applied (a section refers only to those before it).
SECTIONS = ("component_groups", "components", "monitors", "channels", "escalation_policies", "alert_rules", "integrations",
            "status_pages", "slos")


def json_schema() -> dict[str, Any]:
    return VigilConfig.model_json_schema(by_alias=True)
