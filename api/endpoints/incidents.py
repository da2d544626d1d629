"""Incidents and their timeline updates; maintenance windows."""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from api.core import Conflict, FieldErrors, changes_of, get_or_404, optional_fields, page_of, paginate, require, resolve_ids, responses
from api.crud import Limit, Offset, crud
from api.fields import Flag, Id, Moment, Text
from incidents import services
from incidents.models import Component, ComponentStatus, Incident, IncidentUpdate, Maintenance

router = Router(tags=["incidents"])

Impact = Literal["critical", "major", "minor", "none"]
OpenStatus = Literal["investigating", "identified", "monitoring"]
UpdateStatus = Literal["investigating", "identified", "monitoring", "resolved"]
AffectedStatus = Literal[tuple(ComponentStatus.values)]  # type: ignore[valid-type]
Message = Annotated[Text, Field(min_length=1, max_length=20_000, description="Markdown.")]


class AffectedComponent(Schema):
    component_id: Id
    status: AffectedStatus = Field(description="What the component shows while the incident is open.")  # type: ignore[valid-type]


class IncidentIn(Schema):
    title: Annotated[Text, Field(min_length=1, max_length=200)]
    impact: Impact = Field("minor", description="critical = SEV-1, major = SEV-2, minor = SEV-3, none = SEV-4.")
    status: OpenStatus = "investigating"
    message: Message
    components: list[AffectedComponent] = Field(default_factory=list)
    is_public: Flag = True
    notify: Flag = Field(True, description="Tell the status page's subscribers.")


class IncidentDetailsIn(Schema):
    title: Annotated[Text, Field(min_length=1, max_length=200)]
    impact: Impact
    is_public: Flag
    commander: Annotated[Text, Field(max_length=150)] | None = Field(None, description="Username of the incident commander.")
    expected_version: int | None = Field(None, description="The version you read; a newer one answers 409 instead of overwriting.")


IncidentDetailsPatch = optional_fields(IncidentDetailsIn)


class UpdateIn(Schema):
    status: UpdateStatus
    message: Message
    components: list[AffectedComponent] = Field(default_factory=list)
    notify: Flag = True
    expected_version: int | None = Field(None, description="The version you read; a newer one answers 409 instead of posting.")


class UpdateOut(Schema):
    id: int
    status: str
    message: str
    author_name: str
    created_at: datetime
    edited_at: datetime | None
    affected_components: list[dict[str, Any]]


class IncidentOut(Schema):
    id: int
    title: str
    impact: str
    severity: str
    status: str
    is_public: bool
    commander: str | None
    started_at: datetime
    identified_at: datetime | None
    monitoring_at: datetime | None
    resolved_at: datetime | None
    acknowledged_at: datetime | None = Field(None, description="When someone answered (the severity policy's acknowledge target).")
    war_room_url: str = ""
    version: int
    components: list[dict[str, Any]]
    updates: list[UpdateOut]

    @staticmethod
    def resolve_commander(obj: Incident) -> str | None:
        return obj.commander.get_username() if obj.commander else None

    @staticmethod
    def resolve_components(obj: Incident) -> list[dict[str, Any]]:
        return [{"component_id": impact.component_id, "status": impact.status} for impact in obj.impacts.all()]

    @staticmethod
    def resolve_updates(obj: Incident) -> list[IncidentUpdate]:
        return sorted(obj.updates.all(), key=lambda update: (update.created_at, update.pk), reverse=True)


class IncidentFilters(Schema):
    status: Literal["open", "investigating", "identified", "monitoring", "resolved", "postmortem"] | None = Field(
        None, description="open: investigating, identified or monitoring.")
    impact: Impact | None = None
    component_id: Id | None = Field(None, description="Open incidents that affect this component.")
    since: Moment | None = Field(None, description="Started at or after.")


def _incidents() -> Any:
    return Incident.objects.select_related("commander").prefetch_related("impacts", "updates").order_by("-started_at", "-pk")


def _affected(items: list[Any]) -> dict[int, str]:
    components = resolve_ids(Component, [item.component_id for item in items], "components")
    statuses = {item.component_id: item.status for item in items}
    return {component.pk: statuses[component.pk] for component in components}


def _incident_call(call: Any) -> Any:
    try:
        return call()
    except services.IncidentConflict as conflict:
        raise Conflict(str(conflict)) from None


@router.get("/incidents", response=responses(200, page_of(IncidentOut)), summary="List incidents, newest first")
def list_incidents(request: HttpRequest, filters: Query[IncidentFilters], limit: Limit = 50, offset: Offset = 0) -> Any:
    require(request, "view", Incident)
    queryset = _incidents()
    if filters.status == "open":
        queryset = queryset.filter(status__in=Incident.OPEN_STATUSES)
    elif filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.impact:
        queryset = queryset.filter(impact=filters.impact)
    if filters.component_id:
        queryset = queryset.filter(impacts__component_id=filters.component_id).distinct()
    if filters.since:
        queryset = queryset.filter(started_at__gte=filters.since)
    return paginate(queryset, limit, offset)


@router.post("/incidents", response=responses(201, IncidentOut), summary="Open an incident")
def open_incident(request: HttpRequest, payload: IncidentIn) -> Any:
    require(request, "add", Incident)
    incident = services.incident_open(
        title=payload.title, impact=payload.impact, status=payload.status, message=payload.message,
        components=_affected(payload.components), is_public=payload.is_public, notify=payload.notify,
        by=request.user, now=timezone.now(),  # type: ignore[arg-type]
    )
    return Status(201, _incidents().get(pk=incident.pk))


@router.get("/incidents/{incident_id}", response=responses(200, IncidentOut), summary="One incident with its timeline")
def get_incident(request: HttpRequest, incident_id: Id) -> Any:
    require(request, "view", Incident)
    return get_or_404(Incident, incident_id, _incidents())


@router.patch("/incidents/{incident_id}", response=responses(200, IncidentOut), summary="Change title, impact, visibility or commander")
def update_incident(request: HttpRequest, incident_id: Id, payload: IncidentDetailsPatch) -> Any:  # type: ignore[valid-type]
    require(request, "change", Incident)
    incident = get_or_404(Incident, incident_id)
    changes = changes_of(payload, IncidentDetailsIn)
    expected = changes.pop("expected_version", None)
    if "commander" in changes:
        username = changes["commander"]
        changes["commander"] = None if username is None else get_user_model().objects.filter(username=username).first()
        if username is not None and changes["commander"] is None:
            raise FieldErrors({"commander": f"There is no user named {username!r}."})
    _incident_call(lambda: services.incident_set_details(incident_id=incident.pk, expected_version=expected, by=request.user,  # type: ignore[arg-type]
                                                         now=timezone.now(), **changes))
    return _incidents().get(pk=incident.pk)


@router.post("/incidents/{incident_id}/acknowledge", response=responses(200, IncidentOut),
             summary="Acknowledge: meets the acknowledge target and stops the page's escalation")
def acknowledge_incident(request: HttpRequest, incident_id: Id) -> Any:
    require(request, "change", Incident)
    incident = get_or_404(Incident, incident_id)
    services.incident_acknowledge(incident_id=incident.pk, by=request.user, now=timezone.now())  # type: ignore[arg-type]
    return _incidents().get(pk=incident.pk)


@router.post("/incidents/{incident_id}/updates", response=responses(201, UpdateOut), summary="Post a timeline update (and move the status)")
def post_update(request: HttpRequest, incident_id: Id, payload: UpdateIn) -> Any:
    require(request, "add", IncidentUpdate)
    incident = get_or_404(Incident, incident_id)
    if incident.status == Incident.Status.POSTMORTEM:
        raise Conflict("This incident is closed with a postmortem; open a new incident instead.")
    update = _incident_call(lambda: services.incident_post_update(
        incident_id=incident.pk, expected_version=payload.expected_version, status=payload.status, message=payload.message,
        components=_affected(payload.components), notify=payload.notify, by=request.user, now=timezone.now(),  # type: ignore[arg-type]
    ))
    return Status(201, update)


@router.get("/incidents/{incident_id}/updates", response=responses(200, page_of(UpdateOut)), summary="An incident's updates, newest first")
def list_updates(request: HttpRequest, incident_id: Id, limit: Limit = 50, offset: Offset = 0) -> Any:
    require(request, "view", IncidentUpdate)
    incident = get_or_404(Incident, incident_id)
    return paginate(incident.updates.order_by("-created_at", "-pk"), limit, offset)


# --- Maintenance ---------------------------------------------------------------------------------


class MaintenanceIn(Schema):
    title: Annotated[Text, Field(min_length=1, max_length=200)]
    message: Annotated[Text, Field(max_length=20_000)] = ""
    component_ids: list[Id] = Field(default_factory=list)
    starts_at: Moment
    ends_at: Moment
    time_zone: Annotated[Text, Field(max_length=64)] = "UTC"
    auto_transition: Flag = True
    recurrence: Annotated[Text, Field(max_length=300, description="iCal RRULE, e.g. FREQ=WEEKLY;BYDAY=SU.")] = ""
    suppress_alerts: Flag = True
    exclude_from_slo: Flag = True
    is_public: Flag = True
    status: Literal["scheduled", "in_progress", "verifying", "completed"] | None = Field(
        None, description="Move the window by hand (e.g. completed early); leave out to let it run on time.")


class MaintenanceOut(Schema):
    id: int
    title: str
    message: str
    component_ids: list[int]
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    auto_transition: bool
    recurrence: str
    suppress_alerts: bool
    exclude_from_slo: bool
    is_public: bool
    status: str
    started_at: datetime | None
    completed_at: datetime | None

    @staticmethod
    def resolve_component_ids(obj: Maintenance) -> list[int]:
        return [component.pk for component in obj.components.all()]


class MaintenanceFilters(Schema):
    status: Literal["scheduled", "in_progress", "verifying", "completed", "active"] | None = Field(
        None, description="active: in progress or verifying.")


def _save_maintenance(request: HttpRequest, maintenance: Maintenance, data: dict[str, Any], creating: bool) -> Maintenance:
    now = timezone.now()
    status = data.pop("status", None)
    component_ids = data.pop("component_ids", None)
    components = resolve_ids(Component, component_ids, "component_ids") if component_ids is not None else list(maintenance.components.all()) \
        if not creating else []
    for name, value in data.items():
        setattr(maintenance, name, value)
    services.maintenance_save(maintenance=maintenance, components=components, by=request.user, now=now)  # type: ignore[arg-type]
    if status is not None and status != maintenance.status:
        services.maintenance_set_status(maintenance_id=maintenance.pk, status=status, by=request.user, now=now)  # type: ignore[arg-type]
    return maintenance


def _filter_maintenance(queryset: Any, filters: MaintenanceFilters) -> Any:
    if filters.status == "active":
        return queryset.filter(status__in=Maintenance.ACTIVE_STATUSES)
    return queryset.filter(status=filters.status) if filters.status else queryset


crud(router, model=Maintenance, path="/maintenance", name="maintenance", schema_in=MaintenanceIn, schema_out=MaintenanceOut,
     save=_save_maintenance, filters=MaintenanceFilters, apply_filters=_filter_maintenance,
     queryset=lambda: Maintenance.objects.prefetch_related("components").order_by("-starts_at", "-pk"))
