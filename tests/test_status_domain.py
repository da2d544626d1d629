"""A status page on its own domain: status.example.com/ is the page, its links start at /."""

from __future__ import annotations

import json

import pytest

from incidents.models import Component
from statuspage import services as page_services
from statuspage import snapshot
from statuspage.models import StatusPage
from statuspage.tasks import rebuild_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def branded(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "status.example.com", "internal.example.com"]
    api = Component.objects.create(name="API")
    page = page_services.page_save(page=StatusPage(slug="acme", title="Acme status", domain="Status.Example.com",
                                                   brand_colour="#aa3300", footer_links=[{"label": "Acme", "url": "https://acme.example"}]),
                                   component_ids=[api.pk])
    snapshot.publish_routes()
    rebuild_all()
    return page


def test_the_domain_serves_its_page_at_the_root(client, branded):
    response = client.get("/", HTTP_HOST="status.example.com")
    html = response.content.decode()
    assert response.status_code == 200 and "Acme status" in html
    assert 'href="/history/"' in html and 'href="/status/acme/' not in html
    assert 'data-live-url="/ws/status/acme/"' in html  # the websocket path is not rewritten
    assert client.get("/history/", HTTP_HOST="status.example.com").status_code == 200
    summary = json.loads(client.get("/api/v2/summary.json", HTTP_HOST="status.example.com").content)
    assert summary["page"]["id"] == "acme" and summary["page"]["url"] == "http://status.example.com/"
    assert "#aa3300" in client.get("/theme.css", HTTP_HOST="status.example.com").content.decode()
    assert 'href="https://acme.example"' in html


def test_staff_pages_are_not_served_on_the_status_domain(client, branded, admin_user):
    client.force_login(admin_user)
    assert client.get("/admin/", HTTP_HOST="status.example.com").status_code == 404
    assert client.get("/dashboard/", HTTP_HOST="status.example.com").status_code == 404
    assert client.get("/dashboard/").status_code == 200  # the portal's own host is unchanged


def test_the_same_page_still_answers_under_its_slug(client, branded):
    html = client.get("/status/acme/").content.decode()
    assert 'href="/status/acme/history/"' in html


def test_subscribing_works_on_the_domain(client, branded):
    response = client.get("/subscribe/", HTTP_HOST="status.example.com")
    assert response.status_code == 200 and 'href="/history/"' in response.content.decode()


def test_a_host_outside_allowed_hosts_gets_400_not_a_status_page(client, branded):
    """The fast path answers before CommonMiddleware checks the Host header: it checks it itself."""
    for path in ("/status/acme/", "/status/acme/api/v2/summary.json", "/status/acme/theme.css", "/"):
        response = client.get(path, HTTP_HOST="attacker.example")
        assert response.status_code == 400, path
        assert b"Acme status" not in response.content
    assert client.get("/status/acme/").status_code == 200  # an allowed host is served as before


def test_a_page_domain_missing_from_allowed_hosts_is_refused_like_any_host(client, branded, settings):
    settings.ALLOWED_HOSTS = [host for host in settings.ALLOWED_HOSTS if host != "status.example.com"]
    assert client.get("/", HTTP_HOST="status.example.com").status_code == 400
