"""In a real browser, the one live-update mechanism: a monitor's page shows its new state
without a reload, and a page whose websocket cannot connect (a proxy that drops them)
says it is not live and still refreshes its panels by polling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core import events
from monitors.models import Monitor
from monitors.tasks import check_batch
from tests.conftest import login
from tests.servers import HTTPServer, respond

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def checked_monitor():
    failing = {"now": False}
    server = HTTPServer({"/health": lambda handler: respond(handler, 503 if failing["now"] else 200, b"ok")})
    monitor = Monitor.objects.create(name="checkout-api", kind="http", target=f"{server.url}/health", timeout_seconds=2, retries=0,
                                     recovery_confirmations=1)
    slot = [timezone.now()]

    def check(fail: bool) -> None:
        failing["now"] = fail
        slot[0] += timedelta(seconds=1)
        check_batch([[monitor.pk, slot[0].isoformat()]], "default")
        events.drain(now=timezone.now())

    check(False)
    assert Monitor.objects.get(pk=monitor.pk).state == "up"
    yield monitor, check
    server.close()


def test_the_monitor_page_shows_its_new_state_live(live_app, browser, viewer, checked_monitor):
    monitor, check = checked_monitor
    page = browser.new_context().new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    login(page, live_app, "vera-viewer")
    page.goto(f"{live_app}/monitors/{monitor.pk}/")
    expect(page.locator("#live-state")).to_have_text("Live", timeout=10_000)
    expect(page.locator("#monitor-state h1")).to_contain_text("Up")
    page.evaluate("window.notReloaded = true")

    check(True)
    expect(page.locator("#monitor-state h1")).to_contain_text("Down", timeout=10_000)
    expect(page.locator("#monitor-state")).to_contain_text("503")
    assert page.evaluate("window.notReloaded") is True
    assert not [e for e in errors if "Content Security Policy" in e], errors


def test_without_a_websocket_the_dashboard_says_so_and_polls(live_app, browser, viewer, checked_monitor):
    _monitor, check = checked_monitor
    context = browser.new_context()
    context.route_web_socket("**/ws/**", lambda socket: socket.close())  # a proxy that drops websockets
    page = context.new_page()
    login(page, live_app, "vera-viewer")
    expect(page.locator("#live-state")).to_contain_text("Not live", timeout=10_000)
    expect(page.get_by_text("Every monitor is up.")).to_be_visible()
    page.evaluate("window.notReloaded = true")

    check(True)
    # No push can arrive: the panels come back with the next poll (every 30 s).
    expect(page.locator('tr[data-monitor="checkout-api"]')).to_contain_text("Down", timeout=45_000)
    assert page.evaluate("window.notReloaded") is True
