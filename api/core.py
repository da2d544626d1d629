"""The ops API's frame: token auth, scopes and roles, JSON errors, pagination, audit.

Every operation declares the error responses below, so the OpenAPI document says
exactly what a client can get back (schemathesis holds the code to it)."""

import functools
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, models
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer
from pydantic import BeforeValidator, Field, create_model, model_validator

from api.models import ApiToken
from api.tokens import token_check
from core.models import AuditLog
from core.services import audit_record


class ErrorOut(Schema):
    detail: str = Field(description="What went wrong and how to fix it.")
    fields: dict[str, list[str]] = Field(default_factory=dict, description="Field name -> messages, for invalid input.")


ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


def responses(code: int, schema: Any) -> dict[int, Any]:
    return {code: schema, **ERRORS}


class FieldErrors(Exception):
    """Invalid input found by a service or a lookup; answered 422 with the fields."""

    def __init__(self, fields: Mapping[str, list[str] | str], detail: str = "Some fields are invalid; see fields.") -> None:
        self.fields = {name: ([messages] if isinstance(messages, str) else list(messages)) for name, messages in fields.items()}
        self.detail = detail
        super().__init__(detail)


class Conflict(Exception):
    pass


class TokenAuth(HttpBearer):
    """`Authorization: Bearer vigil_...`: a personal token made in the admin (API tokens)."""

    openapi_description = "A personal API token from the admin (API tokens): `Authorization: Bearer vigil_…`."

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = token_check(token.strip(), now=timezone.now())
        if found is not None:
            request.user = found.user
            request.api_token = found  # type: ignore[attr-defined]
        return found


api = NinjaAPI(
    title="Vigil ops API",
    version="1.0",
    description=(
        "Manage monitors, components, incidents, maintenance, status pages, alerting and SLOs from code.\n\n"
        "Authenticate with a personal token made in the admin (API tokens): `Authorization: Bearer vigil_…`. "
        "Read tokens can only read; write tokens write what the token's user's role allows. "
        "Lists take `limit` (1-500) and `offset`; errors are JSON `{detail, fields}`; every write is audited."
    ),
    auth=TokenAuth(),
    urls_namespace="api-v1",
    openapi_url="/openapi.json",
    docs_url="/docs",
)


def _json_error(request: HttpRequest, status: int, detail: str, fields: dict[str, list[str]] | None = None) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "fields": fields or {}}, status=status)


def _refuse_unknown_query_parameters(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A query parameter the operation does not declare is a 422 naming it, not silently ignored:
    a misspelt filter (`?stat=down`) would otherwise answer every row as if it had matched."""
    operation = run.__self__  # type: ignore[attr-defined]
    declared = sorted({name for model in operation.models if model.__ninja_param_source__ == "query"
                       for name in (getattr(model, "__ninja_flatten_map__", None) or model.model_fields)})

    @functools.wraps(run)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        unknown = [name for name in request.GET if name not in declared]
        if unknown:
            takes = f"this operation takes {', '.join(declared)}" if declared else "this operation takes none"
            return _json_error(request, 422, "Unknown query parameters; see fields.",
                               {name or "(empty name)": [f"unknown query parameter; {takes}."] for name in unknown})
        return run(request, *args, **kwargs)

    return checked


api.add_decorator(_refuse_unknown_query_parameters, mode="view")


def _field_name(loc: Any) -> str:
    parts = [str(part) for part in loc]
    # ninja prefixes the source ("body", "query", "path") and the parameter's name.
    while parts and parts[0] in ("body", "query", "path", "payload", "filters", "header"):
        parts.pop(0)
    return ".".join(parts) or "body"


@api.exception_handler(NinjaValidationError)
def _invalid_request(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        # pydantic prefixes a validator's own message with "Value error, "; the message alone reads better.
        fields.setdefault(_field_name(error.get("loc", ())), []).append(str(error.get("msg", "invalid")).removeprefix("Value error, "))
    return _json_error(request, 422, "Some fields are invalid; see fields.", fields)


@api.exception_handler(DjangoValidationError)
def _invalid_model(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    if hasattr(exc, "error_dict"):
        fields = {name: [str(message) for message in messages] for name, messages in exc.message_dict.items()}
        codes = {error.code for errors in exc.error_dict.values() for error in errors}
        if codes and codes <= {"unique", "unique_together"}:
            # A taken name is a conflict with another row, as the document says (409), not invalid input.
            return _json_error(request, 409, "Another row holds this value; see fields.", fields)
    else:
        fields = {"body": [str(message) for message in exc.messages]}
    return _json_error(request, 422, "Some fields are invalid; see fields.", fields)


@api.exception_handler(FieldErrors)
def _invalid_fields(request: HttpRequest, exc: FieldErrors) -> HttpResponse:
    return _json_error(request, 422, exc.detail, exc.fields)


@api.exception_handler(ValueError)
def _invalid_value(request: HttpRequest, exc: ValueError) -> HttpResponse:
    # Services raise ValueError("field: what to do") for rules the schema cannot express.
    message = str(exc)
    name, sep, rest = message.partition(": ")
    if sep and name.replace("_", "").isalnum() and " " not in name:
        return _json_error(request, 422, rest, {name: [rest]})
    return _json_error(request, 422, message)


@api.exception_handler(Conflict)
def _conflict(request: HttpRequest, exc: Conflict) -> HttpResponse:
    return _json_error(request, 409, str(exc))


@api.exception_handler(IntegrityError)
def _integrity(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
    return _json_error(request, 409, "This conflicts with an existing object (a name or slug that must be unique is taken).")


@api.exception_handler(DataError)
def _data(request: HttpRequest, exc: DataError) -> HttpResponse:
    return _json_error(request, 422, "A value is too long, out of range, or holds a character the database cannot store (NUL).")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _json_error(request, 404, str(exc) or "Not found.")


@api.exception_handler(ObjectDoesNotExist)
def _missing(request: HttpRequest, exc: ObjectDoesNotExist) -> HttpResponse:
    return _json_error(request, 404, str(exc) or "Not found.")


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _json_error(request, 403, str(exc) or "Your role does not allow this.")


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _json_error(request, 401, "Send a valid API token: Authorization: Bearer vigil_… (make one in the admin, API tokens).")
    response["WWW-Authenticate"] = 'Bearer realm="vigil"'
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _json_error(request, exc.status_code, str(exc))


# --- Permissions and audit ---------------------------------------------------------------------


def require(request: HttpRequest, action: str, model: type[models.Model]) -> None:
    """The token's scope and its user's role must both allow `action` (view, add, change, delete) on model."""
    token: ApiToken = request.api_token  # type: ignore[attr-defined]
    if action != "view" and not token.can_write:
        raise PermissionDenied("This token is read-only; make a token with the write scope to change things.")
    meta = model._meta
    if not request.user.has_perm(f"{meta.app_label}.{action}_{meta.model_name}"):
        raise PermissionDenied(f"Your role may not {action} {meta.verbose_name_plural}.")


def audit(request: HttpRequest, action: str, target: models.Model, changes: dict[str, Any] | None = None) -> None:
    """For writes whose service does not audit itself (those that do record source "api" through the request context)."""
    audit_record(actor=request.user, action=action, target=target, changes=changes, request=request, source=AuditLog.Source.API)


def get_or_404(model: type[models.Model], pk: int, queryset: Any = None) -> Any:
    found = (queryset if queryset is not None else model._default_manager).filter(pk=pk).first()
    if found is None:
        raise Http404(f"There is no {model._meta.verbose_name} with id {pk}.")
    return found


def resolve_ids(model: type[models.Model], ids: list[int], field: str) -> list[Any]:
    objects = list(model._default_manager.filter(pk__in=ids))
    missing = sorted(set(ids) - {obj.pk for obj in objects})
    if missing:
        raise FieldErrors({field: f"No {model._meta.verbose_name} with id {', '.join(map(str, missing))}."})
    by_id = {obj.pk: obj for obj in objects}
    return [by_id[pk] for pk in dict.fromkeys(ids)]


def resolve_id(model: type[models.Model], pk: int | None, field: str) -> Any:
    return None if pk is None else resolve_ids(model, [pk], field)[0]


# --- Pagination ----------------------------------------------------------------------------------

MAX_LIMIT = 500
_pages: dict[type, type] = {}


def page_of(schema: type[Schema]) -> type[Schema]:
    """`{count, limit, offset, items: [schema]}`, one named model per item schema."""
    if schema not in _pages:
        _pages[schema] = create_model(
            f"{schema.__name__}Page", __base__=Schema,
            count=(int, Field(description="How many match, in all.")), limit=(int, ...), offset=(int, ...), items=(list[schema], ...),  # type: ignore[valid-type]
        )
    return _pages[schema]


def paginate(queryset: Any, limit: int, offset: int) -> dict[str, Any]:
    return {"count": queryset.count(), "limit": limit, "offset": offset, "items": list(queryset[offset:offset + limit])}


class PatchBody(Schema):
    """A PATCH body is an object of the fields to change. (ninja's Schema reads attributes of
    anything, so a JSON array or a number would pass as an empty change and answer 200.)"""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        # ninja's own validator has wrapped the value in a DjangoGetter by now: look inside it.
        if not isinstance(data if isinstance(data, dict) else getattr(data, "_obj", data), dict):
            raise ValueError("the body must be a JSON object of the fields to change, e.g. {\"name\": \"api\"}")
        return data


def optional_fields(schema: type[Schema]) -> type[Schema]:
    """The PATCH twin of an input schema: every field optional (absent = unchanged), constraints kept for values sent."""
    fields: dict[str, Any] = {}
    for name, info in schema.model_fields.items():
        # The constraints go on the inner type, so that null reaches changes_of (which names the field) instead
        # of a length check that cannot measure None.
        inner: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation  # type: ignore[valid-type]
        # null only where the field itself may be null: the document must not offer what changes_of refuses.
        patched = inner | None if _nullable(info.annotation) else Annotated[inner, BeforeValidator(_not_null)]
        fields[name] = (patched, Field(None, description=info.description))
    return create_model(f"{schema.__name__.removesuffix('In')}Patch", __base__=PatchBody, **fields)


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may not be null; leave the field out to keep its value.")
    return value


def _nullable(annotation: Any) -> bool:
    return bool(getattr(annotation, "__args__", None)) and type(None) in annotation.__args__


def changes_of(payload: Schema, schema_in: type[Schema]) -> dict[str, Any]:
    """What a PATCH sent; null only where the field may be null."""
    data = payload.model_dump(exclude_unset=True)
    errors = {}
    for name, value in data.items():
        annotation = schema_in.model_fields[name].annotation
        nullable = getattr(annotation, "__args__", None) and type(None) in annotation.__args__  # type: ignore[union-attr]
        if value is None and not nullable:
            errors[name] = "may not be null; leave the field out to keep its value."
    if errors:
        raise FieldErrors(errors)
    return data


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # A bug, not bad input: logged with its traceback; the client gets JSON it can quote.
    import logging

    from django.db import InterfaceError, OperationalError

    if isinstance(exc, (OperationalError, InterfaceError)):
        logging.getLogger("vigil.web").warning("database unavailable for %s: %s", request.path, str(exc).strip()[:200])
        response = _json_error(request, 503, "Vigil cannot reach its database right now; it reconnects by itself. Retry in a moment.")
        response["Retry-After"] = "30"
        return response
    logging.getLogger("django.request").error("API error on %s %s", request.method, request.path, exc_info=exc)
    request_id = getattr(request, "request_id", "")
    return _json_error(request, 500, f"Something went wrong on our side; it was logged (request id {request_id}).")
