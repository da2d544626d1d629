"""The portal's own endpoints: health, readiness, metrics, and the staff home."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core.health import HEALTHY, UNHEALTHY, migrations_pending, run_checks
from core.metrics import portal_registry

ALL_CHECKS = ["database", "cache", "broker", "workers", "beat"]


def _health_response(names: list[str]) -> JsonResponse:
    document = run_checks(names)
    status = 503 if document["status"] == UNHEALTHY else 200
    return JsonResponse(document, status=status)


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    return _health_response(ALL_CHECKS)


@never_cache
@require_GET
def health_db(request: HttpRequest) -> JsonResponse:
    return _health_response(["database"])


@never_cache
@require_GET
def health_cache(request: HttpRequest) -> JsonResponse:
    return _health_response(["cache"])


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """For load balancers: 200 only when the database answers and is migrated."""
    try:
        pending = migrations_pending()
    except Exception as exc:  # noqa: BLE001 - the database is the answer
        connections["default"].close()
        return JsonResponse({"status": UNHEALTHY, "reason": f"database unreachable: {type(exc).__name__}"}, status=503)
    if pending:
        return JsonResponse({"status": UNHEALTHY, "reason": "migrations pending: run manage.py migrate"}, status=503)
    return JsonResponse({"status": HEALTHY})


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.VIGIL_METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            return HttpResponse("metrics need Authorization: Bearer <VIGIL_METRICS_TOKEN>\n", status=401, content_type="text/plain")
    return HttpResponse(generate_latest(portal_registry()), content_type=CONTENT_TYPE_LATEST)


@never_cache
@require_GET
def demo_target(request: HttpRequest) -> JsonResponse:
    """A local service for the demo monitors to watch: ?status=degraded|unhealthy, ?delay_ms=N."""
    import time

    wanted = request.GET.get("status", "healthy")
    if wanted not in ("healthy", "degraded", "unhealthy"):
        return JsonResponse({"error": "status must be healthy, degraded or unhealthy"}, status=400)
    try:
        delay = min(max(int(request.GET.get("delay_ms", "0")), 0), 5000)
    except ValueError:
        return JsonResponse({"error": "delay_ms must be a whole number of milliseconds (0-5000)"}, status=400)
    time.sleep(delay / 1000)
    checks = {"database": {"status": "healthy" if wanted == "healthy" else wanted}}
    return JsonResponse({"status": wanted, "checks": checks}, status=503 if wanted == "unhealthy" else 200)
