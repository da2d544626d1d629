"""Heartbeat pings: /ping/<token>, /start, /fail and /<exit code>, GET or POST."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core import metrics
from monitors import pings, services

PING_BODY_LIMIT = 10_000  # bytes of the request body kept with a ping


@csrf_exempt
@require_http_methods(["GET", "POST", "HEAD"])
def ping(request: HttpRequest, token: UUID, signal: str = "success", exit_code: int | None = None) -> HttpResponse:
    found = pings.lookup(token)
    if found is None:
        return HttpResponse("not found: no heartbeat monitor has this ping URL\n", status=404, content_type="text/plain")
    if exit_code is not None and exit_code > 255:
        return HttpResponse("exit code must be 0-255\n", status=400, content_type="text/plain")
    monitor_id, paused = found
    if paused:
        return HttpResponse("OK (monitor paused; ping ignored)\n", content_type="text/plain")
    now = timezone.now()
    if pings.over_rate(monitor_id, now):
        metrics.pings_rate_limited.inc()
        response = HttpResponse(f"too many pings: this check takes at most {settings.VIGIL_PING_RATE} a second "
                                "(VIGIL_PING_RATE); this one was not recorded, retry in a second\n", status=429, content_type="text/plain")
        response["Retry-After"] = "1"
        return response
    body = request.read(PING_BODY_LIMIT).decode("utf-8", errors="replace") if request.method == "POST" else ""
    received = services.Ping(monitor_id, "exit" if exit_code is not None else signal, exit_code, body, now)
    if not pings.enqueue(received):
        services.record_pings(pings=[received], now=received.at)
    return HttpResponse("OK\n", content_type="text/plain")
