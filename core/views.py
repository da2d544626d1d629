"""The portal's own endpoints: health, readiness, metrics, and the staff home."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client.exposition import choose_encoder

from core.client_address import client_address
from core.health import ALL_CHECKS, HEALTHY, UNHEALTHY, migrations_pending, run_checks
from core.metrics import portal_registry


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
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal
    # OpenMetrics when the scraper asks for it (Prometheus does), the classic text format otherwise.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(portal_registry()), content_type=content_type)


def _metrics_refusal(request: HttpRequest) -> HttpResponse | None:
    """/metrics tells anyone how busy and how broken Vigil is: in production it needs a token or an allow list."""
    token, allowed = settings.VIGIL_METRICS_TOKEN, settings.VIGIL_METRICS_ALLOW
    if settings.PRODUCTION and not token and not allowed:
        return _refuse(403, "metrics are closed in production: set VIGIL_METRICS_TOKEN (a bearer token for Prometheus) "
                            "or VIGIL_METRICS_ALLOW (the scrapers' addresses), see docs/deployment.md")
    if allowed:
        address = client_address(request)
        try:
            client = ipaddress.ip_address(address)
        except ValueError:
            client = None
        if client is None or not any(client in ipaddress.ip_network(network, strict=False) for network in allowed):
            return _refuse(403, f"metrics are not served to {address or 'this client'}; add its address to VIGIL_METRICS_ALLOW")
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            response = _refuse(401, "metrics need Authorization: Bearer <VIGIL_METRICS_TOKEN>")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return None


def _refuse(status: int, reason: str) -> HttpResponse:
    return HttpResponse(f"{reason}\n", status=status, content_type="text/plain")


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


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    # The static URL is looked up per request, not when the URLs are imported: in production the
    # manifest storage only knows it after collectstatic, and migrate (which imports the URLs) runs first.
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))
