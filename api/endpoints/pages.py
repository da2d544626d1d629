"""Status pages (the access token of a private page is never shown; make one in the admin)."""

from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from api.core import audit, resolve_ids
from api.crud import crud
from api.fields import Flag, Id, Text
from incidents.models import Component
from statuspage.models import StatusPage
from statuspage.services import page_save

router = Router(tags=["status pages"])


class FooterLink(Schema):
    label: Annotated[Text, Field(min_length=1, max_length=60)]
    url: Annotated[Text, Field(min_length=1, max_length=500, pattern=r"^(https?://|/)")]


class StatusPageIn(Schema):
    slug: Annotated[str, Field(pattern=r"^[-a-zA-Z0-9_]{1,50}$", description="The page lives at /status/<slug>/.")]
    title: Annotated[Text, Field(min_length=1, max_length=120)]
    description: Annotated[Text, Field(max_length=300)] = ""
    component_ids: list[Id] = Field(default_factory=list, description="In the order shown.")
    is_default: Flag = False
    domain: Annotated[Text, Field(max_length=253)] | None = None
    visibility: Literal["public", "private"] = "public"
    time_zone: Annotated[Text, Field(max_length=64)] = "UTC"
    clock: Literal["24h", "12h"] = Field("24h", description="How the page writes times (14:30 or 2:30 PM); the zone follows.")
    brand_colour: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = "#1f6feb"
    logo_url: Annotated[Text, Field(max_length=200)] = ""
    support_url: Annotated[Text, Field(max_length=200)] = ""
    footer_links: list[FooterLink] = Field(default_factory=list)
    allow_subscriptions: Flag = True


class StatusPageOut(Schema):
    id: int
    slug: str
    title: str
    description: str
    component_ids: list[int]
    is_default: bool
    domain: str | None
    visibility: str
    time_zone: str
    clock: str
    brand_colour: str
    logo_url: str
    support_url: str
    footer_links: list[dict[str, str]]
    allow_subscriptions: bool

    @staticmethod
    def resolve_component_ids(obj: StatusPage) -> list[int]:
        return list(obj.page_components.order_by("position", "pk").values_list("component_id", flat=True))


def _save_page(request: HttpRequest, page: StatusPage, data: dict[str, Any], creating: bool) -> StatusPage:
    component_ids = data.pop("component_ids", None)
    if component_ids is not None:
        component_ids = [component.pk for component in resolve_ids(Component, component_ids, "component_ids")]
    for name, value in data.items():
        setattr(page, name, value)
    page_save(page=page, component_ids=component_ids)
    audit(request, "create" if creating else "update", page, {**data, **({"component_ids": component_ids} if component_ids is not None else {})})
    return page


crud(router, model=StatusPage, path="/status-pages", name="status_page", schema_in=StatusPageIn, schema_out=StatusPageOut, save=_save_page)
