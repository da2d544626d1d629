"""SLOs, with the figures of their latest snapshot (refreshed every minute by beat)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from alerting.models import AlertRule
from api.core import FieldErrors, audit, resolve_id, resolve_ids
from api.crud import crud
from api.fields import Count, Flag, Id, Text
from incidents.models import Component
from monitors.models import Monitor
from slo.models import SLO, SLOSnapshot

router = Router(tags=["slos"])


class SLOIn(Schema):
    name: Annotated[Text, Field(min_length=1, max_length=120)]
    description: Annotated[Text, Field(max_length=300)] = ""
    component_id: Id | None = None
    kind: Literal["availability", "latency"] = "availability"
    latency_threshold_ms: Annotated[int, Field(ge=1, le=600_000)] | None = Field(
        None, description="Latency SLOs: a check is good below this; one of the rollup histogram's bounds.")
    objective: Annotated[float, Field(gt=0, lt=100, description="Percent, e.g. 99.9.")]
    window: Literal["rolling_7d", "rolling_28d", "rolling_30d", "calendar_month"] = "rolling_30d"
    time_zone: Annotated[Text, Field(max_length=64)] = "UTC"
    monitor_ids: list[Id] = Field(min_length=1, description="The monitors whose checks count.")
    exclude_maintenance: Flag = True
    owner: Annotated[Text, Field(max_length=150)] | None = Field(None, description="Username of the owner.")
    alert_rule_id: Id | None = Field(None, description="Burn-rate alerts go out through this rule's channels.")
    min_events: Count = 30
    min_bad_events: Count = 3


class SnapshotOut(Schema):
    at: datetime
    sli: float = Field(description="Ratio of good to valid checks, 0-1 (kept for existing clients; sli_percent is the same in percent).")
    sli_percent: float = Field(description="Percent of good checks, as the objective is written (99.912, not 0.99912).")
    budget_minutes: float
    spent_minutes: float
    remaining_ratio: float
    burn_1h: float
    burn_6h: float
    burn_3d: float
    exhaustion_minutes: float | None
    status: str

    @staticmethod
    def resolve_sli_percent(obj: SLOSnapshot) -> float:
        return 100.0 * obj.sli


class SLOOut(Schema):
    id: int
    name: str
    description: str
    component_id: int | None
    kind: str
    latency_threshold_ms: int | None
    objective: float
    window: str
    time_zone: str
    monitor_ids: list[int]
    exclude_maintenance: bool
    owner: str | None
    alert_rule_id: int | None
    min_events: int
    min_bad_events: int
    latest: SnapshotOut | None = Field(description="The latest computed figures; null until beat has computed them.")

    @staticmethod
    def resolve_monitor_ids(obj: SLO) -> list[int]:
        return sorted(monitor.pk for monitor in obj.monitors.all())

    @staticmethod
    def resolve_owner(obj: SLO) -> str | None:
        return obj.owner.get_username() if obj.owner else None

    @staticmethod
    def resolve_latest(obj: SLO) -> SLOSnapshot | None:
        latest = getattr(obj, "latest_snapshots", [])  # prefetched by _slos(): at most one row
        return latest[0] if latest else None


def _slos() -> Any:
    # A sliced prefetch: one query for the whole page, the newest snapshot of each SLO.
    latest = Prefetch("snapshots", queryset=SLOSnapshot.objects.order_by("-at")[:1], to_attr="latest_snapshots")
    return SLO.objects.select_related("owner").prefetch_related("monitors", latest).order_by("name")


def _save_slo(request: HttpRequest, slo: SLO, data: dict[str, Any], creating: bool) -> SLO:
    monitor_ids = data.pop("monitor_ids", None)
    monitors = resolve_ids(Monitor, monitor_ids, "monitor_ids") if monitor_ids is not None else None
    if "component_id" in data:
        slo.component = resolve_id(Component, data.pop("component_id"), "component_id")
    if "alert_rule_id" in data:
        slo.alert_rule = resolve_id(AlertRule, data.pop("alert_rule_id"), "alert_rule_id")
    if "owner" in data:
        username = data.pop("owner")
        slo.owner = None if username is None else get_user_model().objects.filter(username=username).first()
        if username is not None and slo.owner is None:
            raise FieldErrors({"owner": f"There is no user named {username!r}."})
    for name, value in data.items():
        setattr(slo, name, value)
    slo.full_clean()
    slo.save()
    if monitors is not None:
        slo.monitors.set(monitors)
    audit(request, "create" if creating else "update", slo, {**data, **({"monitors": [m.name for m in monitors]} if monitors else {})})
    return slo


crud(router, model=SLO, path="/slos", name="slo", schema_in=SLOIn, schema_out=SLOOut, save=_save_slo, queryset=_slos)
