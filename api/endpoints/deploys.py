"""Deploy markers: CI posts one per deploy; charts, the incident console and the dashboard show them."""

from datetime import datetime, timedelta
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from api.core import page_of, paginate, require, resolve_id, responses
from api.crud import Limit, Offset
from api.fields import Id, Moment, Text
from incidents import services
from incidents.models import Component, Deploy

router = Router(tags=["deploys"])


class DeployIn(Schema):
    version: Annotated[Text, Field(min_length=1, max_length=100, description="What was deployed, e.g. v2.3.1 or a commit.")]
    service: Annotated[Text, Field(max_length=100, description="Free text; give this or component_id.")] = ""
    component_id: Id | None = Field(None, description="The component deployed; give this or service.")
    by: Annotated[Text, Field(max_length=150, description="Who or what deployed (a person, a CI job).")] = ""
    url: Annotated[Text, Field(max_length=500, description="The release, pipeline or diff (http or https).")] = ""
    at: Moment | None = Field(None, description="When it was deployed; left out: now.")


class DeployOut(Schema):
    id: int
    version: str
    service: str
    component_id: int | None
    component: str | None
    by: str
    url: str
    at: datetime

    @staticmethod
    def resolve_component(obj: Deploy) -> str | None:
        return obj.component.name if obj.component is not None else None


class DeployFilters(Schema):
    component_id: Id | None = Field(None, description="Deploys of this component (and those naming no component).")
    since: Moment | None = Field(None, description="Deployed at or after; left out: the last 7 days.")


@router.get("/deploys", response=responses(200, page_of(DeployOut)), summary="List deploy markers, newest first")
def list_deploys(request: HttpRequest, filters: Query[DeployFilters], limit: Limit = 50, offset: Offset = 0) -> Any:
    require(request, "view", Deploy)
    now = timezone.now()
    since = filters.since or now - timedelta(days=7)
    rows = Deploy.objects.filter(at__gte=since).select_related("component").order_by("-at", "-id")
    if filters.component_id:
        rows = rows.filter(component_id=filters.component_id) | rows.filter(component__isnull=True)
    return paginate(rows, limit, offset)


@router.post("/deploys", response=responses(201, DeployOut), summary="Record a deploy (from CI)")
def record_deploy(request: HttpRequest, payload: DeployIn) -> Any:
    require(request, "add", Deploy)
    deploy = services.deploy_record(version=payload.version, service=payload.service,
                                    component=resolve_id(Component, payload.component_id, "component_id"),
                                    deployed_by=payload.by, url=payload.url, at=payload.at, by=request.user,  # type: ignore[arg-type]
                                    now=timezone.now())
    return Status(201, deploy)
