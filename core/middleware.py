"""Request id and request metrics for every response; an access line for server errors and
slow requests (every request with VIGIL_ACCESS_LOG=all)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from core import metrics
from core.client_address import drop_untrusted_forwarded_proto
from core.logging import access_log
from core.request_context import audit_source_var, request_id_var

# Accept an upstream id (load balancer, proxy) only when it is short and plain.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# Any other method is counted as "other": a client inventing methods must not add a series each.
METRIC_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.log_all = settings.VIGIL_ACCESS_LOG == "all"
        self.slow_ms = settings.VIGIL_SLOW_REQUEST_MS

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # First in the chain: SecurityMiddleware's HTTPS redirect and request.is_secure() read it.
        drop_untrusted_forwarded_proto(request)
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        source = audit_source_var.set("api" if request.path.startswith("/api/v1/") else None)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
            audit_source_var.reset(source)
        duration = time.perf_counter() - started
        response["X-Request-ID"] = request_id
        if response.status_code == 304:
            # RFC 9110 15.4.5: a 304 describes the stored response; a "Content-Length: 0" here
            # (added by CommonMiddleware) would tell a cache the page is empty.
            del response["Content-Length"]
            del response["Content-Type"]

        match = getattr(request, "resolver_match", None)
        view = match.view_name if match and match.view_name else "unmatched"
        method = request.method if request.method in METRIC_METHODS else "other"
        metrics.http_requests.labels(view, method, str(response.status_code)).inc()
        metrics.http_request_duration.labels(view).observe(duration)
        if not (self.log_all or response.status_code >= 500 or duration * 1000 >= self.slow_ms):
            return response
        access_log.log(
            logging.WARNING if response.status_code >= 500 or duration * 1000 >= self.slow_ms else logging.INFO,
            "%s %s %s %.1fms",
            request.method,
            request.path,
            response.status_code,
            duration * 1000,
            extra={
                "request_id": request_id,
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(duration * 1000, 2),
            },
        )
        return response
