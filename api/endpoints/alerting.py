"""Channels, alert rules, silences, and the alerts themselves (acknowledge, resolve)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from alerting import services
from alerting.integrations import receiver_snippet
from alerting.models import Alert, AlertRule, Channel, EscalationPolicy, Integration, Silence
from api.core import FieldErrors, audit, get_or_404, page_of, paginate, require, resolve_id, resolve_ids, responses
from api.crud import Limit, Offset, crud
from api.fields import Flag, Id, Moment, Seconds, Text
from core.secrets import SECRET_MASK, is_env_reference, mask
from incidents.models import Component
from monitors.models import Monitor, Tag

router = Router(tags=["alerting"])

ChannelKind = Literal["slack", "discord", "teams", "pagerduty", "email", "webhook", "apprise"]
Severity = Literal["critical", "warning", "info"]
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,39}$")]


# --- Channels ------------------------------------------------------------------------------------


class ChannelIn(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=100)]
    kind: ChannelKind
    config: dict[str, Any] = Field(
        default_factory=dict,
        description='slack/discord/teams/webhook: {"url": ...}; apprise: {"url": "tgram://..."} (an Apprise URL); pagerduty: {"routing_key": ...}; email: {"to": [...]}; '
                    'webhook may add {"secret": ...}. Secrets may be env:NAME. Secrets are write-only: they read back masked, '
                    "and a masked value sent back keeps the stored one.")
    enabled: Flag = True


class ChannelOut(Schema):
    id: int
    name: str
    kind: str
    config: dict[str, Any]
    enabled: bool
    created_at: datetime

    @staticmethod
    def resolve_config(obj: Channel) -> dict[str, Any]:
        return obj.masked_config()


def _save_channel(request: HttpRequest, channel: Channel, data: dict[str, Any], creating: bool) -> Channel:
    if "config" in data and not creating:
        saved = channel.config or {}
        data["config"] = {key: (saved.get(key) if key in Channel.SECRET_KEYS and value == SECRET_MASK else value)
                          for key, value in data["config"].items()}
    for name, value in data.items():
        setattr(channel, name, value)
    services.channel_save(channel=channel, by=request.user)
    audit(request, "create" if creating else "update", channel, data)
    return channel


crud(router, model=Channel, path="/channels", name="channel", schema_in=ChannelIn, schema_out=ChannelOut, save=_save_channel)


class TestSentOut(Schema):
    notification_id: int
    detail: str


@router.post("/channels/{item_id}/test", response=responses(202, TestSentOut), summary="Send a test notification", operation_id="test_channel")
def test_channel(request: HttpRequest, item_id: Id) -> Any:
    require(request, "change", Channel)
    channel = get_or_404(Channel, item_id)
    notification = services.send_test(channel=channel, now=timezone.now())
    audit(request, "send_test", channel)
    return Status(202, {"notification_id": notification.pk, "detail": "Queued through the outbox; see the notification's status in the admin."})


# --- Alert rules -----------------------------------------------------------------------------------


class AlertRuleIn(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=120)]
    enabled: Flag = True
    states: list[Literal["down", "degraded"]] = Field(default=["down"], min_length=1)
    monitor_kinds: list[Literal[tuple(Monitor.Kind.values)]] = Field(default_factory=list)  # type: ignore[valid-type]
    monitor_ids: list[Id] = Field(default_factory=list, description="Only these monitors; empty: every monitor that matches.")
    component_ids: list[Id] = Field(default_factory=list)
    tags: list[Annotated[str, Field(pattern=r"^[-a-zA-Z0-9_]{1,40}$")]] = Field(default_factory=list)
    for_seconds: Seconds = 0
    severity: Severity = "critical"
    labels: dict[LabelName, Annotated[Text, Field(max_length=200)]] = Field(default_factory=dict)
    runbook_url: Annotated[Text, Field(max_length=200, pattern=r"^(https?://.*)?$")] = ""
    runbook_text: Annotated[Text, Field(max_length=5000)] = ""
    channel_ids: list[Id] = Field(default_factory=list)
    escalation_policy_id: Id | None = None
    group_by: list[LabelName] = Field(default_factory=list)
    group_wait_seconds: Seconds = 30
    group_interval_seconds: Seconds = 300
    repeat_interval_seconds: Seconds = 4 * 3600
    resolve_after_seconds: Seconds = 300
    notify_resolved: Flag = True
    hold_flapping: Flag = True


class AlertRuleOut(Schema):
    id: int
    name: str
    enabled: bool
    states: list[str]
    monitor_kinds: list[str]
    monitor_ids: list[int]
    component_ids: list[int]
    tags: list[str]
    for_seconds: int
    severity: str
    labels: dict[str, str]
    runbook_url: str
    runbook_text: str
    channel_ids: list[int]
    escalation_policy_id: int | None
    group_by: list[str]
    group_wait_seconds: int
    group_interval_seconds: int
    repeat_interval_seconds: int
    resolve_after_seconds: int
    notify_resolved: bool
    hold_flapping: bool

    @staticmethod
    def resolve_monitor_ids(obj: AlertRule) -> list[int]:
        return sorted(monitor.pk for monitor in obj.monitors.all())

    @staticmethod
    def resolve_component_ids(obj: AlertRule) -> list[int]:
        return sorted(component.pk for component in obj.components.all())

    @staticmethod
    def resolve_tags(obj: AlertRule) -> list[str]:
        return sorted(tag.name for tag in obj.tags.all())

    @staticmethod
    def resolve_channel_ids(obj: AlertRule) -> list[int]:
        return sorted(channel.pk for channel in obj.channels.all())


def _save_rule(request: HttpRequest, rule: AlertRule, data: dict[str, Any], creating: bool) -> AlertRule:
    relations = {
        "monitors": (Monitor, data.pop("monitor_ids", None), "monitor_ids"),
        "components": (Component, data.pop("component_ids", None), "component_ids"),
        "channels": (Channel, data.pop("channel_ids", None), "channel_ids"),
    }
    tags = data.pop("tags", None)
    if "escalation_policy_id" in data:
        rule.escalation_policy = resolve_id(EscalationPolicy, data.pop("escalation_policy_id"), "escalation_policy_id")
    resolved = {name: resolve_ids(model, ids, field) for name, (model, ids, field) in relations.items() if ids is not None}
    for name, value in data.items():
        setattr(rule, name, value)
    rule.full_clean()
    rule.save()
    for name, objects in resolved.items():
        getattr(rule, name).set(objects)
    if tags is not None:
        rule.tags.set([Tag.objects.get_or_create(name=name.lower())[0] for name in tags])
    audit(request, "create" if creating else "update", rule, {**data, **{name: [str(o) for o in objs] for name, objs in resolved.items()}})
    return rule


crud(router, model=AlertRule, path="/alert-rules", name="alert_rule", schema_in=AlertRuleIn, schema_out=AlertRuleOut, save=_save_rule,
     queryset=lambda: AlertRule.objects.prefetch_related("monitors", "components", "tags", "channels"))


# --- Inbound integrations ------------------------------------------------------------------------------

IntegrationKind = Literal["alertmanager", "grafana", "sentry", "pagerduty"]


class IntegrationIn(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=100)]
    kind: IntegrationKind
    rule_id: Id | None = Field(None, description="The alert rule whose channels, grouping and escalation apply to its alerts "
                                                 "(required except for pagerduty).")
    token: Annotated[Text, Field(min_length=1, max_length=200)] | None = Field(
        None, description="Write-only. alertmanager, grafana: the bearer token their requests carry, env:NAME (read from the "
                          "environment at each request) or at least 20 characters (kept only as a hash); leave it out and "
                          "POST /integrations/{id}/token to have Vigil issue one. sentry, pagerduty: the signing secret "
                          "(env:NAME or the secret itself). Absent or null on a change: the stored one is kept.")
    enabled: Flag = True


class IntegrationOut(Schema):
    id: int
    name: str
    kind: str
    rule_id: int | None
    enabled: bool
    token_source: Literal["env", "stored", "none"] = Field(description="env: read from the environment variable in token_env; "
                                                                        "stored: a hash (bearer) or the signing secret; none: not set yet.")
    token_env: str = Field(description="The env:NAME reference, when the token is read from the environment.")
    webhook_url: str = Field(description="Where the source posts its webhooks.")
    created_at: datetime

    @staticmethod
    def resolve_token_source(obj: Integration) -> str:
        if obj.token_env or (obj.kind in Integration.SIGNED_KINDS and is_env_reference(obj.signing_secret)):
            return "env"
        return "stored" if obj.token_hash or (obj.kind in Integration.SIGNED_KINDS and obj.signing_secret) else "none"

    @staticmethod
    def resolve_token_env(obj: Integration) -> str:
        if obj.kind in Integration.SIGNED_KINDS:
            return obj.signing_secret if is_env_reference(obj.signing_secret) else ""
        return obj.token_env

    @staticmethod
    def resolve_webhook_url(obj: Integration) -> str:
        return f"{str(settings.VIGIL_BASE_URL).rstrip('/')}{obj.endpoint_path}"


def _save_integration(request: HttpRequest, integration: Integration, data: dict[str, Any], creating: bool) -> Integration:
    token = data.pop("token", None)
    if "rule_id" in data:
        integration.rule = resolve_id(AlertRule, data.pop("rule_id"), "rule_id")
    for name, value in data.items():
        setattr(integration, name, value)
    services.integration_save(integration=integration, token=token, by=request.user)
    audit(request, "create" if creating else "update", integration, {**data, **({"token": mask(token)} if token else {})})
    return integration


crud(router, model=Integration, path="/integrations", name="integration", schema_in=IntegrationIn, schema_out=IntegrationOut,
     save=_save_integration, queryset=lambda: Integration.objects.all())


class IssuedTokenOut(Schema):
    token: str = Field(description="Shown once; the previous token stops working.")
    receiver: str = Field(description="The alertmanager.yml receiver (or Grafana contact point URL) that uses it.")


@router.post("/integrations/{item_id}/token", response=responses(201, IssuedTokenOut), summary="Issue a new bearer token (shown once)",
             operation_id="issue_integration_token")
def issue_integration_token(request: HttpRequest, item_id: Id) -> Any:
    require(request, "change", Integration)
    integration = get_or_404(Integration, item_id)
    if integration.kind not in Integration.TOKEN_KINDS:
        raise FieldErrors({"kind": f"{integration.get_kind_display()} signs its webhooks with its own secret: set it as token "
                                   "(PATCH /integrations/{id}); it needs no bearer token."})
    with transaction.atomic():
        token = services.integration_issue_token(integration=integration)
        audit(request, "issue_token", integration)
    return Status(201, {"token": token, "receiver": receiver_snippet(integration, token=token)})


# --- Silences ------------------------------------------------------------------------------------------


class Matcher(Schema):
    name: LabelName
    value: Annotated[Text, Field(min_length=1, max_length=200)]
    regex: Flag = False


class SilenceIn(Schema):
    matchers: list[Matcher] = Field(min_length=1, max_length=20, description="An alert is muted when its labels match every matcher.")
    starts_at: Moment
    ends_at: Moment
    comment: Annotated[Text, Field(min_length=1, max_length=300)]


class SilenceOut(Schema):
    id: int
    matchers: list[dict[str, Any]]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str | None
    active: bool

    @staticmethod
    def resolve_created_by(obj: Silence) -> str | None:
        return obj.created_by.get_username() if obj.created_by else None

    @staticmethod
    def resolve_active(obj: Silence) -> bool:
        now = timezone.now()
        return obj.starts_at <= now < obj.ends_at


def _save_silence(request: HttpRequest, silence: Silence, data: dict[str, Any], creating: bool) -> Silence:
    if creating:
        silence.created_by = request.user  # type: ignore[assignment]
    for name, value in data.items():
        setattr(silence, name, value)
    silence.full_clean()
    silence.save()
    audit(request, "create" if creating else "update", silence, data)
    return silence


class SilenceFilters(Schema):
    active: bool | None = Field(None, description="true: muting now; false: expired or not started.")


def _filter_silences(queryset: Any, filters: SilenceFilters) -> Any:
    if filters.active is None:
        return queryset
    now = timezone.now()
    active = queryset.filter(starts_at__lte=now, ends_at__gt=now)
    return active if filters.active else queryset.exclude(pk__in=active.values("pk"))


crud(router, model=Silence, path="/silences", name="silence", schema_in=SilenceIn, schema_out=SilenceOut, save=_save_silence,
     filters=SilenceFilters, apply_filters=_filter_silences, queryset=lambda: Silence.objects.select_related("created_by"))


# --- Alerts ------------------------------------------------------------------------------------------------


class AlertOut(Schema):
    id: int
    rule_id: int | None
    status: str
    severity: str
    summary: str
    labels: dict[str, Any]
    annotations: dict[str, Any] = Field(description="What the source said beyond labels (Alertmanager's summary, description, runbook_url ...).")
    monitor_id: int | None
    value: str
    first_seen: datetime
    last_seen: datetime
    fired_at: datetime | None
    count: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None

    @staticmethod
    def resolve_acknowledged_by(obj: Alert) -> str | None:
        return obj.acknowledged_by.get_username() if obj.acknowledged_by else None


class AlertFilters(Schema):
    status: Literal["open", "pending", "firing", "acknowledged", "resolved"] | None = Field(
        None, description="open: pending, firing or acknowledged.")
    severity: Severity | None = None
    monitor_id: Id | None = None


def _alerts() -> Any:
    return Alert.objects.select_related("acknowledged_by").order_by("-first_seen", "-pk")


@router.get("/alerts", response=responses(200, page_of(AlertOut)), summary="List alerts, newest first")
def list_alerts(request: HttpRequest, filters: Query[AlertFilters], limit: Limit = 50, offset: Offset = 0) -> Any:
    require(request, "view", Alert)
    queryset = _alerts()
    if filters.status == "open":
        queryset = queryset.filter(status__in=Alert.OPEN)
    elif filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.severity:
        queryset = queryset.filter(severity=filters.severity)
    if filters.monitor_id:
        queryset = queryset.filter(monitor_id=filters.monitor_id)
    return paginate(queryset, limit, offset)


@router.get("/alerts/{alert_id}", response=responses(200, AlertOut), summary="One alert")
def get_alert(request: HttpRequest, alert_id: Id) -> Any:
    require(request, "view", Alert)
    return get_or_404(Alert, alert_id, _alerts())


@router.post("/alerts/{alert_id}/acknowledge", response=responses(200, AlertOut), summary="Acknowledge a firing alert (stops escalation)")
def acknowledge_alert(request: HttpRequest, alert_id: Id) -> Any:
    require(request, "change", Alert)
    alert = get_or_404(Alert, alert_id)
    if alert.status != Alert.Status.FIRING:
        raise FieldErrors({"status": f"Only a firing alert can be acknowledged; this one is {alert.status}."})
    with transaction.atomic():
        services.acknowledge(alerts=Alert.objects.filter(pk=alert.pk), by=request.user, now=timezone.now())
        audit(request, "alert.acknowledge", alert)
    return _alerts().get(pk=alert.pk)


@router.post("/alerts/{alert_id}/resolve", response=responses(200, AlertOut), summary="Resolve an open alert by hand")
def resolve_alert(request: HttpRequest, alert_id: Id) -> Any:
    require(request, "change", Alert)
    alert = get_or_404(Alert, alert_id)
    if alert.status not in Alert.OPEN:
        raise FieldErrors({"status": "This alert is already resolved."})
    with transaction.atomic():
        services.resolve(alerts=Alert.objects.filter(pk=alert.pk), by=request.user, now=timezone.now())
        audit(request, "alert.resolve", alert)
    return _alerts().get(pk=alert.pk)
