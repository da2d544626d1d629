"""Status pages in the admin: create with components, rebuild, issue a token shown once."""

from __future__ import annotations

import pytest

from incidents.models import Component
from statuspage.models import StatusPage, StatusSnapshot

pytestmark = pytest.mark.django_db


def test_an_admin_creates_a_page_with_ordered_components(client, admin_user, django_capture_on_commit_callbacks):
    api, web = Component.objects.create(name="API"), Component.objects.create(name="Web")
    client.force_login(admin_user)
    assert client.get("/admin/statuspage/statuspage/add/").status_code == 200
    data = {
        "title": "Partner status", "slug": "partners", "description": "", "visibility": "public", "domain": "",
        "logo_url": "", "brand_colour": "#114477", "time_zone": "Europe/Berlin", "clock": "24h", "footer_links": "[]", "support_url": "",
        "allow_subscriptions": "on",
        "page_components-TOTAL_FORMS": "2", "page_components-INITIAL_FORMS": "0",
        "page_components-MIN_NUM_FORMS": "0", "page_components-MAX_NUM_FORMS": "1000",
        "page_components-0-component": str(web.pk), "page_components-0-position": "1",
        "page_components-1-component": str(api.pk), "page_components-1-position": "2",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/statuspage/statuspage/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    page = StatusPage.objects.get(slug="partners")
    assert [row.component.name for row in page.page_components.all()] == ["Web", "API"]
    from statuspage.tasks import rebuild_all

    rebuild_all()
    html = client.get("/status/partners/").content.decode()
    assert html.index("Web") < html.index("API")
    assert client.get("/admin/statuspage/statuspage/").status_code == 200
    assert StatusSnapshot.objects.filter(page=page).exists()


def test_bad_admin_input_names_the_field(client, admin_user):
    client.force_login(admin_user)
    response = client.post("/admin/statuspage/statuspage/add/", {
        "title": "x", "slug": "x", "visibility": "public", "brand_colour": "red", "time_zone": "Nowhere/Land",
        "footer_links": '[{"label": 1}]', "page_components-TOTAL_FORMS": "0", "page_components-INITIAL_FORMS": "0"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "#rrggbb" in html and "IANA" in html and "Footer links must be a list" in html


def test_the_access_token_is_shown_once(client, admin_user):
    page = StatusPage.objects.create(slug="internal", title="Internal", visibility="private")
    client.force_login(admin_user)
    response = client.post("/admin/statuspage/statuspage/", {"action": "issue_access_token", "_selected_action": [page.pk]}, follow=True)
    message = response.content.decode()
    assert "new access token" in message
    page.refresh_from_db()
    token = message.split("new access token ")[1].split(" ")[0]
    assert page.check_access_token(token) and token not in page.access_token_hash
    assert token not in client.get(f"/admin/statuspage/statuspage/{page.pk}/change/").content.decode()
