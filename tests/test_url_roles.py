"""Every URL pattern, walked as anonymous, viewer, responder and admin: staff pages are
never served to anonymous visitors, writes are refused to viewers, and nothing answers
500. Public URLs are listed explicitly, so a new staff URL is covered by default."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from incidents.models import Component, Incident, Maintenance

pytestmark = pytest.mark.django_db

# Names served to anyone: health and metrics for probes, pings for jobs, public status
# pages, signed links and token-authenticated integrations.
PUBLIC = {"health", "health-db", "health-cache", "ready", "metrics", "login", "logout", "demo-target", "alert-ack",
          "integration-alertmanager", "integration-pagerduty",
          # The ops API's description and its docs page: no data, and every operation needs a token (tests/test_api.py).
          "openapi-json", "openapi-view",
          # The shipped docs (the same files as the source) and the API's index of links.
          "docs-index", "docs-page", "api-index", "api-root", "favicon"}
PUBLIC_PREFIXES = ("ping", "status-")
# Console pages that change something when POSTed.
WRITES = {"incident-declare", "incident-post-update", "incident-template", "postmortem", "update-edit", "maintenance-new",
          "maintenance-edit", "maintenance-status", "monitor-new", "monitor-edit", "monitor-test", "monitor-action", "setup"}


def patterns(resolvers=None, prefix: str = ""):
    for entry in resolvers if resolvers is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern).startswith("admin/"):
                continue  # Django's admin: checked below through its index
            yield from patterns(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.name


def concrete(route: str, ids: dict[str, int]) -> str:
    path = re.sub(r"<int:pk>", str(ids["pk"]), route)
    path = re.sub(r"<int:\w+>", "1", path)
    path = re.sub(r"<uuid:\w+>", "00000000-0000-0000-0000-000000000000", path)
    path = re.sub(r"<(str|slug):\w+>", "x", path)
    return "/" + path


@pytest.fixture
def staff_urls(responder):
    from django.utils import timezone

    from incidents import services

    Component.objects.create(name="API")
    incident = services.incident_open(title="t", impact="minor", message="m", by=responder, now=timezone.now())
    Maintenance.objects.create(title="m", starts_at=timezone.now(), ends_at=timezone.now() + timezone.timedelta(hours=1))
    ids = {"pk": incident.pk}
    urls = []
    for route, name in patterns():
        if route.startswith("^") or name in PUBLIC or (name or "").startswith(PUBLIC_PREFIXES):
            continue
        urls.append((name, concrete(route, ids)))
    assert Incident.objects.exists() and len(urls) >= 12
    return urls


def test_anonymous_visitors_get_no_staff_page(client, staff_urls):
    for name, url in staff_urls:
        for method in (client.get, client.post):
            response = method(url)
            assert response.status_code in (302, 401, 403, 404, 405), (name, url, response.status_code)
            if response.status_code == 302:
                target = response["Location"]
                assert target.startswith("/accounts/login/") or (name == "home" and target == "/dashboard/"), (name, url, target)
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("role", ["viewer", "responder", "admin_user"])
def test_signed_in_roles_never_see_a_500(client, staff_urls, role, request):
    client.force_login(request.getfixturevalue(role))
    for name, url in staff_urls:
        response = client.get(url)
        assert response.status_code < 500, (role, name, url, response.status_code)


def test_a_viewer_cannot_write(client, staff_urls, viewer):
    client.force_login(viewer)
    for name, url in staff_urls:
        if name in WRITES:
            response = client.post(url, {"title": "x", "message": "x", "status": "resolved"})
            assert response.status_code in (403, 405), (name, url, response.status_code)
    assert Incident.objects.filter(title="x").count() == 0
    # Viewers may read the admin (managers read everything) but change nothing there.
    assert client.post("/admin/incidents/incident/add/", {"title": "x"}).status_code == 403
    assert client.post("/admin/monitors/monitor/add/", {"name": "x"}).status_code == 403
    assert client.post("/admin/alerting/channel/add/", {"name": "x"}).status_code == 403
