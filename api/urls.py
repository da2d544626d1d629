"""/api/v1/: the ops API, its OpenAPI document and interactive docs."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from api.core import api
from api.endpoints import alerting, components, deploys, incidents, monitors, pages, slos


def api_index(request: HttpRequest) -> JsonResponse:
    """What /api/v1/ answers: where the description, the docs and the guide are (no data, no token needed)."""
    base = request.build_absolute_uri("/api/v1/")
    return JsonResponse({
        "name": api.title, "version": api.version,
        "openapi": f"{base}openapi.json", "docs": f"{base}docs",
        "guide": request.build_absolute_uri("/docs/dashboard-and-api/"),
        "authentication": "Authorization: Bearer <token> (make one in the admin: API tokens)",
        "status_page_api": request.build_absolute_uri("/api/v2/summary.json"),
    })


for module in (monitors, components, incidents, deploys, pages, alerting, slos):
    api.add_router("/", module.router)

# Ninja's own root route (it reverses "api-root" for its prefix) answers 404 when no operation
# sits at "/": the index, listed first, answers that URL instead.
urlpatterns = [path("", api_index, name="api-index"), *api.urls[0]]
