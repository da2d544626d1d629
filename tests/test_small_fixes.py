"""Issue 22 point 5: the small things a new user trips over."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.utils import timezone

from monitors.models import Monitor

pytestmark = pytest.mark.django_db


def test_the_page_slug_help_text_survives_html(client, admin_user):
    client.force_login(admin_user)
    html = client.get("/admin/statuspage/statuspage/add/").content.decode()
    assert "/status/ followed by this slug" in html and "/status//" not in html


def test_model_names_are_plural_english():
    plurals = {str(model._meta.verbose_name_plural) for model in apps.get_models()}
    assert "subscriber deliveries" in plurals
    assert not [name for name in plurals if re.search(r"[^aeiou]ys$", name)]


def test_import_config_help_and_warnings_name_docs_that_exist(capsys):
    from django.conf import settings

    docs = settings.BASE_DIR / "docs"
    with pytest.raises(SystemExit):
        call_command("import_config", "--help")
    named = re.findall(r"docs/[\w-]+\.md", capsys.readouterr().out)
    source = (settings.BASE_DIR / "configfile" / "sync" / "write_monitors.py").read_text()
    named += re.findall(r"docs/[\w-]+\.md", source)
    assert named and all((docs / name.removeprefix("docs/")).exists() for name in named), named


def test_the_shipped_docs_are_served_and_link_each_other(client):
    index = client.get("/docs/").content.decode()
    assert "Status pages" in index and 'href="/docs/status-pages/"' in index
    page = client.get("/docs/status-pages/")
    assert page.status_code == 200 and "<table>" in page.content.decode()
    assert client.get("/docs/nope/").status_code == 404
    assert client.get("/docs/..%2Fportal%2Fsettings/").status_code == 404


def test_the_demo_footer_links_the_docs_vigil_serves(db):
    from statuspage.models import StatusPage

    call_command("seed_demo", stdout=open("/dev/null", "w"))
    links = StatusPage.objects.get(is_default=True).footer_links
    assert links and all(link["url"].startswith("/") for link in links)


def test_a_favicon_is_linked_and_served(client):
    assert 'rel="icon"' in client.get("/accounts/login/").content.decode()
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")


def test_the_api_root_is_an_index_of_links(client):
    response = client.get("/api/v1/")
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["openapi"].endswith("/api/v1/openapi.json") and body["docs"].endswith("/api/v1/docs")
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_the_flapping_mark_shows_only_while_flapping(client, viewer):
    now = timezone.now()
    Monitor.objects.create(name="steady", kind="http", target="http://127.0.0.1:9/", state="up", is_flapping=True,
                           state_since=now - timedelta(hours=3))
    Monitor.objects.create(name="wobbly", kind="http", target="http://127.0.0.1:9/", state="down", is_flapping=True,
                           state_since=now - timedelta(minutes=5))
    client.force_login(viewer)
    html = client.get("/monitors/").content.decode()
    rows = {name: row for name, row in re.findall(r'<tr[^>]*>\s*<td><a[^>]*>([^<]+)</a>(.*?)</tr>', html, re.S)}
    assert "flapping" in rows["wobbly"] and "flapping" not in rows["steady"], rows
