"""Every page a GET can reach, public and staff, with the demo data, at phone, tablet and
desktop widths: none scrolls sideways, nothing in the staff navigation is cut off, and
none logs a console error. The pages come from the URLconf (every route without a
parameter) and from following links from them, one page per route name."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.urls import Resolver404, resolve
from playwright.sync_api import expect

from statuspage.tasks import rebuild_all
from tests.conftest import login
from tests.test_url_roles import patterns

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [360, 768, 1280]
# Not pages: documents, probes, signed links and write-only endpoints; Django's own admin.
SKIP_PREFIXES = ("/admin/", "/api/", "/ping/", "/metrics", "/health", "/ready", "/demo/", "/accounts/logout", "/favicon")
SKIP_SUFFIXES = (".rss", ".atom", ".ics", ".json", ".csv", ".svg", ".css", ".txt")
SKIP_NAMES = {"alert-ack", "logout", "status-confirm", "status-unsubscribe", "monitor-check-result", "incident-timeline", "status-live",
              "incident-monitors", "dashboard-panels", "monitor-test", "monitor-action", "digest-subscription"}


def route_name(path: str) -> str | None:
    try:
        return resolve(path).url_name
    except Resolver404:
        return None


def wanted(path: str) -> bool:
    return not path.startswith(SKIP_PREFIXES) and not path.endswith(SKIP_SUFFIXES) and route_name(path) not in SKIP_NAMES


@pytest.fixture
def demo(admin_user):
    call_command("seed_demo", "--base-url", "http://127.0.0.1:9", stdout=open("/dev/null", "w"))
    rebuild_all()


def test_no_page_scrolls_sideways_or_logs_an_error(live_app, browser, demo):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(f"{page.url}: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    login(page, live_app, "ada-admin")

    queue = ["/dashboard/", "/status/"] + ["/" + route for route, _name in patterns() if "<" not in route and "^" not in route]
    seen_names: set[str] = set()
    visited: list[str] = []
    problems: list[str] = []
    while queue:
        path = queue.pop(0)
        name = route_name(path)
        if name is None or name in seen_names or not wanted(path):
            continue
        seen_names.add(name)
        response = page.goto(f"{live_app}{path}")
        if response is None or response.status != 200 or "text/html" not in response.headers.get("content-type", ""):
            continue
        visited.append(path)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            parts = urlsplit(href)
            if not parts.netloc and parts.path.startswith("/"):
                queue.append(parts.path)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(50)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            if overflow > 0:
                culprits = page.evaluate("""(width) => [...document.querySelectorAll('body *')]
                    .filter(e => e.getBoundingClientRect().right > width + 1 && getComputedStyle(e).position !== 'absolute')
                    .slice(-3).map(e => e.tagName + '.' + e.className)""", width)
                problems.append(f"{path} at {width}px scrolls {overflow}px sideways: {culprits}")
            cut = page.evaluate("""(width) => [...document.querySelectorAll('.topbar a, .topbar button, .status-header a')]
                .filter(e => e.offsetParent !== null)
                .filter(e => { const r = e.getBoundingClientRect(); return r.right > width + 1 || r.left < -1; })
                .map(e => e.textContent.trim())""", width)
            if cut:
                problems.append(f"{path} at {width}px cuts off {cut}")
        page.set_viewport_size({"width": 1280, "height": 900})
    expected = {"dashboard", "monitor-list", "monitor-detail", "incident-list", "incident-detail", "incident-declare", "slo-list",
                "checklist", "operations", "docs-index", "docs-page", "status-page", "status-history", "status-incident",
                "status-subscribe"}
    assert expected <= seen_names, sorted(expected - seen_names)
    assert len(visited) >= 20, visited
    assert problems == [], "\n".join(problems)
    assert errors == [], "\n".join(errors)
    expect(page.locator("body")).to_be_visible()
