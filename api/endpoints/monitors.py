"""Monitors: CRUD, results and uptime from rollups, check now, state changes."""

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from api.core import FieldErrors, audit, changes_of, get_or_404, optional_fields, page_of, paginate, require, resolve_id, responses
from api.fields import Flag, Id, Text
from core.models import AuditLog
from core.secrets import mask_secrets
from incidents.models import Component
from monitors import bounds, selectors, services
from monitors.models import Monitor, Region, StateChange

router = Router(tags=["monitors"])

MonitorKind = Literal["http", "health_json", "tls", "tcp", "dns", "heartbeat", "postgres", "redis", "metric"]
MonitorState = Literal["unknown", "up", "degraded", "down", "paused", "maintenance"]
Slug = Annotated[str, Field(pattern=r"^[-a-zA-Z0-9_]{1,40}$")]


class MonitorIn(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=bounds.NAME_MAX_LENGTH)]
    kind: MonitorKind
    target: Annotated[Text, Field(max_length=bounds.TARGET_MAX_LENGTH)] = ""
    settings: dict[str, Any] = Field(default_factory=dict, description="Kind-specific options (docs/monitors.md); secrets as env:NAME.")
    interval_seconds: Annotated[int, bounds.INTERVAL] = 60
    timeout_seconds: Annotated[float, bounds.TIMEOUT] = 10.0
    retries: Annotated[int, bounds.RETRIES] = 2
    retry_interval_seconds: Annotated[int, bounds.RETRY_INTERVAL] | None = Field(
        None, description=f"How soon a failed check is confirmed. {bounds.RETRY_INTERVAL_DEFAULT_TEXT} null: the default.")
    recovery_confirmations: Annotated[int, bounds.RECOVERY_CONFIRMATIONS] = 2
    regions: list[Slug] = Field(default_factory=list, description="Region names; empty: the default region.")
    quorum: Annotated[int, bounds.QUORUM] = 0
    component_id: Id | None = None
    tags: list[Slug] = Field(default_factory=list)
    paused: Flag = False
    heartbeat_period_seconds: Annotated[int, bounds.HEARTBEAT_PERIOD] = Field(
        3600, description="Heartbeats: a ping is expected this long after the last one. Send this or heartbeat_schedule, not both.")
    heartbeat_schedule: bounds.HeartbeatSchedule = Field(
        "", description="Heartbeats: a cron expression (minute hour day-of-month month day-of-week), e.g. 0 3 * * *: a ping is expected "
                        "after each run. Used instead of the period when set; empty: the period.")
    heartbeat_time_zone: bounds.HeartbeatTimeZone = Field("UTC", description="The schedule's time zone, e.g. Europe/Berlin.")
    heartbeat_grace_seconds: Annotated[int, bounds.HEARTBEAT_GRACE] = Field(
        300, description="Heartbeats: late (down) when no ping comes within this long after the expected one.")


MonitorPatch = optional_fields(MonitorIn)


class MonitorOut(Schema):
    id: int
    name: str
    kind: str
    target: str
    settings: dict[str, Any]
    interval_seconds: int
    timeout_seconds: float
    retries: int
    retry_interval_seconds: int
    recovery_confirmations: int
    regions: list[str]
    quorum: int
    component_id: int | None
    tags: list[str]
    paused: bool
    heartbeat_period_seconds: int
    heartbeat_schedule: str
    heartbeat_time_zone: str
    heartbeat_grace_seconds: int
    ping_url: str | None = Field(description="Heartbeats: where the job pings (add /start, /fail or /<exit code>); null for other kinds.")
    is_new: bool = Field(description="A heartbeat never pinged: state unknown, shown as new; it is never late until its first ping.")
    state: str
    state_since: datetime | None
    state_reason: str
    is_flapping: bool
    last_checked_at: datetime | None
    last_latency_ms: int | None
    last_status_code: int | None
    last_message: str
    next_due_at: datetime | None

    @staticmethod
    def resolve_settings(obj: Monitor) -> dict[str, Any]:
        return mask_secrets(obj.settings)  # secrets are write-only

    @staticmethod
    def resolve_regions(obj: Monitor) -> list[str]:
        return [region.name for region in obj.regions.all()]

    @staticmethod
    def resolve_tags(obj: Monitor) -> list[str]:
        return [tag.name for tag in obj.tags.all()]


class MonitorFilters(Schema):
    state: MonitorState | None = None
    kind: MonitorKind | None = None
    component_id: Id | None = None
    tag: Slug | None = None
    search: Annotated[Text, Field(max_length=120)] | None = Field(None, description="Part of the name or target.")


def _queryset() -> Any:
    return Monitor.objects.prefetch_related("regions", "tags").order_by("name")


def _regions(names: list[str]) -> list[Region]:
    if not names:
        return [services.default_region()]
    found = {region.name: region for region in Region.objects.filter(name__in=names)}
    unknown = [name for name in names if name not in found]
    if unknown:
        known = ", ".join(Region.objects.values_list("name", flat=True)) or "none yet"
        raise FieldErrors({"regions": f"Unknown region {', '.join(unknown)}; known regions: {known}."})
    return list(found.values())


def _save(request: HttpRequest, monitor: Monitor | None, data: dict[str, Any], sent: set[str]) -> Monitor:
    """The fields sent, in the names monitors.services.monitor_upsert takes (the writer the admin and config import use)."""
    if data.get("heartbeat_schedule") and "heartbeat_period_seconds" in sent:
        raise FieldErrors({"heartbeat_period_seconds": "A heartbeat has a period or a schedule, not both: leave out "
                                                       "heartbeat_period_seconds, or send heartbeat_schedule empty."})
    if "component_id" in data:
        data["component"] = resolve_id(Component, data.pop("component_id"), "component_id")
    if "regions" in data:
        data["regions"] = _regions(data["regions"])
    saved = services.monitor_upsert(monitor=monitor, changes=data, by=request.user, now=timezone.now(), audit_source=AuditLog.Source.API,
                                    request=request)
    return _queryset().get(pk=saved.pk)


@router.get("/monitors", response=responses(200, page_of(MonitorOut)), summary="List monitors")
def list_monitors(request: HttpRequest, filters: Query[MonitorFilters], limit: Annotated[int, Field(ge=1, le=500)] = 50,
                  offset: Annotated[int, Field(ge=0, le=10_000_000)] = 0) -> Any:
    require(request, "view", Monitor)
    queryset = _queryset()
    if filters.state:
        queryset = queryset.filter(state=filters.state)
    if filters.kind:
        queryset = queryset.filter(kind=filters.kind)
    if filters.component_id:
        queryset = queryset.filter(component_id=filters.component_id)
    if filters.tag:
        queryset = queryset.filter(tags__name=filters.tag.lower())
    if filters.search:
        queryset = queryset.filter(Q(name__icontains=filters.search) | Q(target__icontains=filters.search))
    return paginate(queryset, limit, offset)


@router.post("/monitors", response=responses(201, MonitorOut), summary="Create a monitor")
def create_monitor(request: HttpRequest, payload: MonitorIn) -> Any:
    require(request, "add", Monitor)
    return Status(201, _save(request, None, payload.model_dump(), payload.model_fields_set))


@router.get("/monitors/{monitor_id}", response=responses(200, MonitorOut), summary="One monitor")
def get_monitor(request: HttpRequest, monitor_id: Id) -> Any:
    require(request, "view", Monitor)
    return get_or_404(Monitor, monitor_id, _queryset())


@router.patch("/monitors/{monitor_id}", response=responses(200, MonitorOut), summary="Change a monitor")
def update_monitor(request: HttpRequest, monitor_id: Id, payload: MonitorPatch) -> Any:  # type: ignore[valid-type]
    require(request, "change", Monitor)
    monitor = get_or_404(Monitor, monitor_id)
    changes = changes_of(payload, MonitorIn)
    return _save(request, monitor, changes, set(changes))


@router.delete("/monitors/{monitor_id}", response=responses(204, None), summary="Delete a monitor and its results")
def delete_monitor(request: HttpRequest, monitor_id: Id) -> Any:
    require(request, "delete", Monitor)
    monitor = get_or_404(Monitor, monitor_id)
    services.monitor_delete(monitor=monitor, by=request.user, audit_source=AuditLog.Source.API, request=request)
    return Status(204, None)


class CheckNowOut(Schema):
    monitor_id: int
    due_at: datetime | None
    detail: str


@router.post("/monitors/{monitor_id}/check", response=responses(202, CheckNowOut), summary="Check now")
def check_monitor_now(request: HttpRequest, monitor_id: Id) -> Any:
    """Makes the monitor due now; the dispatcher runs it within a second. Poll the monitor for the result."""
    require(request, "change", Monitor)
    monitor = get_or_404(Monitor, monitor_id)
    if monitor.paused:
        raise FieldErrors({"paused": "This monitor is paused; resume it (PATCH paused=false) before checking it."})
    if monitor.kind == Monitor.Kind.HEARTBEAT:
        raise FieldErrors({"kind": "A heartbeat monitor is checked by its pings; there is nothing to run."})
    now = timezone.now()
    services.monitor_check_now(monitor_ids=[monitor.pk], now=now)
    audit(request, "check_now", monitor)
    return Status(202, {"monitor_id": monitor.pk, "due_at": now, "detail": "Queued; the result shows in last_checked_at within seconds."})


class RollupPoint(Schema):
    start: datetime
    total: int
    up: int
    degraded: int
    down: int
    uptime: float | None = Field(description="Percent of checks up (ok or degraded); null without checks.")
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class ValuesOut(Schema):
    count: int = Field(description="Checks that measured a value in the bucket.")
    low: float | None
    mean: float | None
    high: float | None
    last: float | None


class ValuedPoint(RollupPoint):
    value: ValuesOut | None = Field(description="The measured value (shown as `value_label` in `value_unit`, scaled as the monitor's "
                                                "thresholds judge it); null when no check of the bucket measured one.")


class ResultsOut(Schema):
    monitor_id: int
    period: str
    start: datetime
    end: datetime
    value_label: str
    value_unit: str
    points: list[ValuedPoint]


@router.get("/monitors/{monitor_id}/results", response=responses(200, ResultsOut), summary="Results over time (rollups plus the live current hour)")
def monitor_results(request: HttpRequest, monitor_id: Id, period: Literal["hour", "day"] = "hour",
                    hours: Annotated[int, Field(ge=1, le=24 * 90)] = 24) -> Any:
    require(request, "view", Monitor)
    monitor = get_or_404(Monitor, monitor_id)
    end = timezone.now()
    start = end - timedelta(hours=hours)
    points = selectors.series(monitor, period=period, start=start, end=end + timedelta(microseconds=1), now=end)
    values = {point.start: point for point in
              selectors.value_series(monitor, period=period, start=start, end=end + timedelta(microseconds=1), now=end)}
    display = selectors.value_display(monitor)

    def valued(point: selectors.Point) -> dict[str, Any]:
        measured = values.get(point.start)
        value = None if measured is None or not measured.count else {
            "count": measured.count, "low": measured.low, "mean": measured.mean, "high": measured.high, "last": measured.last}
        return {**point.as_dict(), "value": value}

    return {"monitor_id": monitor.pk, "period": period, "start": start, "end": end, "value_label": str(display["label"]),
            "value_unit": str(display["unit"]), "points": [valued(point) for point in points]}


class WindowOut(Schema):
    window: str
    checks: int
    uptime: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    degraded_seconds: float = Field(description="Time degraded in the window: each check stands for an equal share of the "
                                                "time the window covers (since the monitor exists).")
    down_seconds: float = Field(description="Time down in the window, by the same rule (the public bars' measured downtime).")


class UptimeOut(Schema):
    monitor_id: int
    windows: list[WindowOut]


@router.get("/monitors/{monitor_id}/uptime", response=responses(200, UptimeOut), summary="Uptime and latency over 1h/24h/7d/30d/90d")
def monitor_uptime(request: HttpRequest, monitor_id: Id) -> Any:
    require(request, "view", Monitor)
    monitor = get_or_404(Monitor, monitor_id)
    windows = selectors.uptime_windows(monitor, now=timezone.now())
    return {"monitor_id": monitor.pk, "windows": [window.as_dict() for window in windows]}


class StateChangeOut(Schema):
    id: int
    at: datetime
    old_state: str
    new_state: str
    reason: str
    is_flapping: bool


@router.get("/monitors/{monitor_id}/state-changes", response=responses(200, page_of(StateChangeOut)), summary="State changes, newest first")
def monitor_state_changes(request: HttpRequest, monitor_id: Id, limit: Annotated[int, Field(ge=1, le=500)] = 50,
                          offset: Annotated[int, Field(ge=0, le=10_000_000)] = 0) -> Any:
    require(request, "view", Monitor)
    monitor = get_or_404(Monitor, monitor_id)
    return paginate(StateChange.objects.filter(monitor=monitor).order_by("-at", "-id"), limit, offset)
