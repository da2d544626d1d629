"""Every page, staff and public, sends a CSP without 'unsafe-inline' and its HTML needs
none: no inline script, no style attribute, no on* handler."""

from __future__ import annotations

import re

import pytest

from statuspage.models import StatusPage
from tests.test_url_roles import staff_urls  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:json|ld\+json)\")[^>]*>", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle=", re.I)
HANDLER_ATTRIBUTE = re.compile(r"<[a-z][^>]*\son[a-z]+=", re.I)


def check(response, where: str) -> None:
    policy = response.get("Content-Security-Policy", "")
    assert policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy, (where, policy)
    if "text/html" in response.get("Content-Type", ""):
        html = response.content.decode()
        for name, pattern in (("inline script", INLINE_SCRIPT), ("style attribute", STYLE_ATTRIBUTE), ("on* handler", HANDLER_ATTRIBUTE)):
            found = pattern.search(html)
            assert found is None, f"{where}: {name}: {html[max(0, found.start() - 80):found.end() + 80] if found else ''}"


def test_staff_pages_need_no_unsafe_inline(client, staff_urls, admin_user):  # noqa: F811
    client.force_login(admin_user)
    checked = 0
    for name, url in staff_urls:
        response = client.get(url)
        if response.status_code == 200:
            check(response, f"{name} {url}")
            checked += 1
    for url in ("/admin/", "/admin/monitors/monitor/", "/admin/alerting/channel/add/", "/api/v1/docs"):
        check(client.get(url), url)
    assert checked >= 12


def test_public_pages_need_no_unsafe_inline(client):
    StatusPage.objects.get_or_create(slug="public", defaults={"title": "Status", "is_default": True})
    for url in ("/status/", "/status/history/", "/accounts/login/", "/status/subscribe/"):
        response = client.get(url)
        if response.status_code in (200, 404):
            check(response, url)
