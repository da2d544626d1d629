"""List / create / get / patch / delete for one model, from its schemas and a save function.

Most of the API's objects differ only in their fields and in how a write reaches the
database (a service, or full_clean + save); this builds the five operations once, with
their OpenAPI ids, error responses, role and scope checks, and audit."""

from collections.abc import Callable
from typing import Annotated, Any

from django.db import models, transaction
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from api.core import audit, changes_of, get_or_404, optional_fields, page_of, paginate, require, responses
from api.fields import Id

Limit = Annotated[int, Field(ge=1, le=500, description="How many to return (1-500).")]
Offset = Annotated[int, Field(ge=0, le=10_000_000, description="How many to skip.")]
# save(request, obj, data, creating) writes obj from the validated fields and returns it.
Saver = Callable[[HttpRequest, Any, dict[str, Any], bool], Any]


def full_clean_save(request: HttpRequest, obj: models.Model, data: dict[str, Any], creating: bool) -> models.Model:
    """The default writer: set the fields, validate the model, save, audit."""
    for name, value in data.items():
        setattr(obj, name, value)
    obj.full_clean()
    obj.save()
    audit(request, "create" if creating else "update", obj, data)
    return obj


class NoFilters(Schema):
    pass


def crud(
    router: Router,
    *,
    model: type[models.Model],
    path: str,
    name: str,
    schema_in: type[Schema],
    schema_out: type[Schema],
    save: Saver = full_clean_save,
    queryset: Callable[[], Any] | None = None,
    filters: type[Schema] = NoFilters,
    apply_filters: Callable[[Any, Any], Any] = lambda queryset, _filters: queryset,
    remove: Callable[[HttpRequest, Any], None] | None = None,
) -> None:
    """Register GET/POST {path} and GET/PATCH/DELETE {path}/{id}; `name` is the singular used in operation ids."""
    schema_patch = optional_fields(schema_in)
    plural = str(model._meta.verbose_name_plural)
    single = str(model._meta.verbose_name)

    def rows() -> Any:
        return queryset() if queryset is not None else model._default_manager.all()

    def reload(obj: Any) -> Any:
        return rows().get(pk=obj.pk)

    def list_filtered(request: HttpRequest, filters: Query[filters], limit: Limit = 50, offset: Offset = 0) -> Any:  # type: ignore[valid-type]
        require(request, "view", model)
        return paginate(apply_filters(rows(), filters), limit, offset)

    def list_all(request: HttpRequest, limit: Limit = 50, offset: Offset = 0) -> Any:
        require(request, "view", model)
        return paginate(rows(), limit, offset)

    # An empty filter schema as a query parameter makes ninja ask for a request body: lists without filters take none.
    list_items = list_all if filters is NoFilters else list_filtered

    def create_item(request: HttpRequest, payload: schema_in) -> Any:  # type: ignore[valid-type]
        require(request, "add", model)
        with transaction.atomic():
            obj = save(request, model(), payload.model_dump(), True)  # type: ignore[attr-defined]
        return Status(201, reload(obj))

    def get_item(request: HttpRequest, item_id: Id) -> Any:
        require(request, "view", model)
        return get_or_404(model, item_id, rows())

    def update_item(request: HttpRequest, item_id: Id, payload: schema_patch) -> Any:  # type: ignore[valid-type]
        require(request, "change", model)
        obj = get_or_404(model, item_id)
        with transaction.atomic():
            obj = save(request, obj, changes_of(payload, schema_in), False)
        return reload(obj)

    def delete_item(request: HttpRequest, item_id: Id) -> Any:
        require(request, "delete", model)
        obj = get_or_404(model, item_id)
        with transaction.atomic():
            audit(request, "delete", obj)
            if remove is not None:
                remove(request, obj)
            else:
                obj.delete()
        return Status(204, None)

    router.get(path, response=responses(200, page_of(schema_out)), summary=f"List {plural}", operation_id=f"list_{name}s")(list_items)
    router.post(path, response=responses(201, schema_out), summary=f"Create a {single}", operation_id=f"create_{name}")(create_item)
    router.get(f"{path}/{{item_id}}", response=responses(200, schema_out), summary=f"One {single}", operation_id=f"get_{name}")(get_item)
    router.patch(f"{path}/{{item_id}}", response=responses(200, schema_out), summary=f"Change a {single}",
                 operation_id=f"update_{name}")(update_item)
    router.delete(f"{path}/{{item_id}}", response=responses(204, None), summary=f"Delete a {single}",
                  operation_id=f"delete_{name}")(delete_item)
