"""Components and their groups."""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema
from pydantic import Field

from api.core import audit, resolve_id
from api.crud import crud
from api.fields import Count, Flag, Id, Text
from incidents.models import Component, ComponentGroup, ComponentStatus
from incidents.services import component_refresh

router = Router(tags=["components"])

Name = Annotated[Text, Field(min_length=1, max_length=100)]
Description = Annotated[Text, Field(max_length=300)]


class ComponentGroupIn(Schema):
    name: Name
    description: Description = ""
    position: Count = 0
    is_public: Flag = True


class ComponentGroupOut(ComponentGroupIn):
    id: int


crud(router, model=ComponentGroup, path="/component-groups", name="component_group", schema_in=ComponentGroupIn, schema_out=ComponentGroupOut)


class ComponentIn(Schema):
    name: Name
    description: Description = ""
    group_id: Id | None = None
    position: Count = 0
    is_public: Flag = Field(True, description="Private components never appear on public pages or APIs.")
    status: Literal[tuple(ComponentStatus.values)] = Field(  # type: ignore[valid-type]
        ComponentStatus.OPERATIONAL, description="The status set by hand; the shown status is the worse of this and what its monitors say.")


class ComponentOut(Schema):
    id: int
    name: str
    description: str
    group_id: int | None
    position: int
    is_public: bool
    status: str
    derived_status: str = Field(description="What its monitors, incidents and maintenance say.")
    status_changed_at: datetime | None


class ComponentFilters(Schema):
    group_id: Id | None = None
    is_public: bool | None = None


def _save_component(request: HttpRequest, component: Component, data: dict[str, Any], creating: bool) -> Component:
    if "group_id" in data:
        component.group = resolve_id(ComponentGroup, data.pop("group_id"), "group_id")
    for name, value in data.items():
        setattr(component, name, value)
    component.full_clean()
    component.save()
    component_refresh(component_ids=[component.pk], now=timezone.now())
    audit(request, "create" if creating else "update", component, data)
    return component


def _filter_components(queryset: Any, filters: ComponentFilters) -> Any:
    if filters.group_id:
        queryset = queryset.filter(group_id=filters.group_id)
    if filters.is_public is not None:
        queryset = queryset.filter(is_public=filters.is_public)
    return queryset


crud(router, model=Component, path="/components", name="component", schema_in=ComponentIn, schema_out=ComponentOut,
     save=_save_component, filters=ComponentFilters, apply_filters=_filter_components,
     queryset=lambda: Component.objects.order_by("position", "name"))
