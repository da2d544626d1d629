"""Status page URLs: the default page at /status/ (and its API at /api/v2/), others at /status/<slug>/."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from statuspage import views

API_DOCUMENT = r"(?P<name>summary\.json|status\.json|components\.json|incidents\.json|incidents/unresolved\.json|scheduled-maintenances\.json|scheduled-maintenances/upcoming\.json|scheduled-maintenances/active\.json)"
UPTIME_DOCUMENT = r"api/v2/components/(?P<component>[^/]+)/uptime\.json"
FILE_DOCUMENT = r"(?P<name>history\.rss|history\.atom|calendar\.ics|theme\.css)"


def page_patterns(prefix: str, name_suffix: str) -> list[URLPattern]:
    """The same routes under /status/, /status/<slug>/ and a page's own domain (prefix "")."""
    regex_prefix = prefix.replace("<slug:slug>", r"(?P<slug>[-a-zA-Z0-9_]+)")
    return [
        path(f"{prefix}", views.page, name=f"status-page{name_suffix}"),
        path(f"{prefix}live/", views.live_fragment, name=f"status-live{name_suffix}"),
        path(f"{prefix}history/", views.history, name=f"status-history{name_suffix}"),
        path(f"{prefix}incidents/<int:pk>/", views.incident, name=f"status-incident{name_suffix}"),
        path(f"{prefix}badges/<int:component>.svg", views.badge, name=f"status-badge{name_suffix}"),
        path(f"{prefix}subscribe/", views.subscribe, name=f"status-subscribe{name_suffix}"),
        path(f"{prefix}subscribe/confirm/<str:token>/", views.confirm, name=f"status-confirm{name_suffix}"),
        path(f"{prefix}unsubscribe/<str:token>/", views.unsubscribe, name=f"status-unsubscribe{name_suffix}"),
        re_path(rf"^{regex_prefix}api/v2/{API_DOCUMENT}$", views.api, name=f"status-api{name_suffix}"),
        re_path(rf"^{regex_prefix}{UPTIME_DOCUMENT}$", views.component_uptime, name=f"status-uptime{name_suffix}"),
        re_path(rf"^{regex_prefix}{FILE_DOCUMENT}$", views.document, name=f"status-document{name_suffix}"),
    ]


urlpatterns = [
    *page_patterns("status/", ""),
    re_path(rf"^api/v2/{API_DOCUMENT}$", views.api, name="status-api-root"),
    re_path(rf"^{UPTIME_DOCUMENT}$", views.component_uptime, name="status-uptime-root"),
    *page_patterns("status/<slug:slug>/", "-slug"),
]
