"""A status page's theme.css carries the brand colour and nothing else a page's editor typed."""

from __future__ import annotations

import re

import pytest

from api.tokens import token_issue
from statuspage import services as page_services
from statuspage.models import StatusPage
from statuspage.tasks import rebuild_all

pytestmark = pytest.mark.django_db

INJECTED = "body { display: none } @import url(https://evil.example/x.css);"


def theme(client, slug: str) -> str:
    response = client.get(f"/status/{slug}/theme.css")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/css")
    return response.content.decode()


def declarations(css: str) -> list[str]:
    """What a browser would apply: the CSS with its comments taken out."""
    return [part.strip() for part in re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL).split("}") if part.strip()]


def test_a_title_that_closes_the_css_comment_adds_no_rule(client):
    page_services.page_save(page=StatusPage(slug="acme", title=f"Acme */ {INJECTED} /*", brand_colour="#aa3300"))
    rebuild_all()
    css = theme(client, "acme")
    assert declarations(css) == [".status-page { --brand: #aa3300;"]
    assert "display" not in css and "@import" not in css and "url(" not in css


def test_a_colour_written_around_the_validators_falls_back_to_the_default(client):
    page = page_services.page_save(page=StatusPage(slug="acme", title="Acme", brand_colour="#aa3300"))
    # An old row or a hand-run SQL update: nothing checked it on the way in.
    StatusPage.objects.filter(pk=page.pk).update(brand_colour="#f;}*{x")  # seven characters: what the column holds
    rebuild_all()
    css = theme(client, "acme")
    assert declarations(css) == [".status-page { --brand: #1f6feb;"]
    assert "*{x" not in css


def test_the_api_refuses_css_in_the_brand_colour_naming_the_field(client, admin_user):
    _token, clear = token_issue(user=admin_user, name="test", scope="write")
    response = client.post("/api/v1/status-pages", {"slug": "acme", "title": "Acme", "brand_colour": "#fff;}body{x:y}"},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert response.status_code == 422 and "brand_colour" in response.json()["fields"]
    assert not StatusPage.objects.filter(slug="acme").exists()
