"""Route a request for a status page's own domain (status.example.com) to that page."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
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


class StatusFastPathMiddleware:
    """Serve public status page documents before sessions, auth and CSRF run.

    A visitor flood reads prebuilt snapshots, so the rest of the middleware chain is
    pure overhead for them. Security headers are still added here: the CSP and frame
    policy of the staff pages (SecurityMiddleware, earlier in the chain, adds the rest).
    Private pages, writes and anything else go through the full chain."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from csp.middleware import CSPMiddleware

        from statuspage import views

        self.get_response = get_response
        self.views = {views.page, views.live_fragment, views.history, views.api, views.document, views.badge,
                      views.component_uptime}
        self.csp = CSPMiddleware(get_response)
        # The policy is the same for every snapshot response: build it once (django-csp
        # would rebuild the header string on each request).
        self.csp_header: tuple[str, str] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD") and not request.GET.get("token") and _allowed_host(request):
            from django.urls import Resolver404, resolve

            try:
                match = resolve(request.path_info, urlconf=getattr(request, "urlconf", None))
            except Resolver404:
                match = None
            if match is not None and match.func in self.views:
                routes = get_routes()
                slug = match.kwargs.get("slug") or getattr(request, "status_page_slug", None) or routes["default"]
                meta = routes["pages"].get(slug) if slug else None
                if meta is not None and not meta["private"]:
                    try:
                        response = match.func(request, *match.args, **match.kwargs)
                    except Exception:  # noqa: BLE001 - let the full chain produce the proper error page
                        return self.get_response(request)
                    if response.status_code != 304 and not response.has_header("Content-Length"):
                        response["Content-Length"] = str(len(response.content))  # as CommonMiddleware would
                    if self.csp_header is None:
                        response = self.csp.process_response(request, response)
                        for name in ("Content-Security-Policy", "Content-Security-Policy-Report-Only"):
                            if response.has_header(name):
                                self.csp_header = (name, response[name])
                    else:
                        response[self.csp_header[0]] = self.csp_header[1]
                    response["X-Frame-Options"] = settings.X_FRAME_OPTIONS
                    return response
        return self.get_response(request)


def _allowed_host(request: HttpRequest) -> bool:
    """The Host header passes ALLOWED_HOSTS, as CommonMiddleware would check; otherwise the
    full chain answers (400 Bad Request), so no page is served for a made-up host."""
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return True
