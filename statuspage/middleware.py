"""Route a request for a status page's own domain (status.example.com) to that page."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from statuspage.snapshot import get_routes


class StatusDomainMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        domains = get_routes()["domains"]
        if domains:
            host = request.META.get("HTTP_HOST", "").rsplit(":", 1)[0].lower().rstrip(".")
            slug = domains.get(host)
            if slug is not None:
                request.urlconf = "statuspage.domain_urls"
                request.status_page_slug = slug  # type: ignore[attr-defined]
        return self.get_response(request)
