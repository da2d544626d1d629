"""Issue 22 in a real browser: what a visitor and a staff member see (headline wording,
postmortems, times, small fixes, phones, dark mode)."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core import events
from incidents import services as incident_services
from incidents.models import Component, Maintenance, Postmortem
from portal.management.commands.seed_demo import SAMPLE_INCIDENT_TITLE
from statuspage.models import StatusPage
from statuspage.tasks import rebuild_all
from tests.conftest import login
from tests.servers import HTTPServer, respond

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def five_components(db):
    StatusPage.objects.get_or_create(slug="public", defaults={"title": "Acme status", "is_default": True})
    names = ["API", "Website", "Email", "Search", "Billing"]
    components = [Component.objects.create(name=name) for name in names]
    Component.objects.all().update(created_at=timezone.now() - timedelta(days=30))
    return components


def test_the_headline_follows_statuspage_wording(live_app, browser, five_components):
    cases = [
        ({"API": "degraded_performance"}, "Partially Degraded Service", "indicator-minor"),
        ({"API": "major_outage"}, "Partial System Outage", "indicator-major"),
        ({name.name: "major_outage" for name in five_components}, "Major System Outage", "indicator-critical"),
        ({"API": "under_maintenance"}, "Service Under Maintenance", "indicator-maintenance"),
    ]
    for statuses, heading, indicator in cases:
        Component.objects.update(status="operational")
        for name, status in statuses.items():
            Component.objects.filter(name=name).update(status=status)
        rebuild_all()
        time.sleep(1.1)  # the server keeps a built document in memory for a second
        page = browser.new_context().new_page()  # and the browser may cache the page (max-age)
        page.goto(f"{live_app}/status/")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.locator("section.banner")).to_have_class(f"banner {indicator}")


@pytest.fixture
def resolved_with_postmortem(five_components, responder):
    api = five_components[0]
    started = timezone.now() - timedelta(days=2)
    incident = incident_services.incident_open(title="API errors", impact="major", message="Errors on the API",
                                               components={api.pk: "major_outage"}, by=responder, now=started)
    incident_services.incident_post_update(incident_id=incident.pk, expected_version=None, status="resolved", message="Fixed",
                                           components={api.pk: "operational"}, by=responder, now=started + timedelta(hours=1))
    postmortem = incident_services.postmortem_start(incident_id=incident.pk, by=responder, now=started + timedelta(days=1))
    Postmortem.objects.filter(pk=postmortem.pk).update(summary="A bad *deploy* broke the API.", root_cause="A missing index.",
                                                       lessons="Load-test migrations.")
    rebuild_all()
    return incident, postmortem


def test_a_published_postmortem_is_on_the_public_incident_page_and_in_the_feed(live_app, browser, resolved_with_postmortem, responder):
    incident, postmortem = resolved_with_postmortem
    page = browser.new_context().new_page()
    page.goto(f"{live_app}/status/incidents/{incident.pk}/")
    expect(page.locator(".public-timeline")).to_contain_text("Fixed")
    expect(page.locator(".postmortem")).to_have_count(0)  # a draft stays in the console
    assert "missing index" not in page.request.get(f"{live_app}/status/history.rss").text()

    incident_services.postmortem_publish(postmortem_id=postmortem.pk, by=responder, now=timezone.now())
    rebuild_all()
    time.sleep(1.1)  # the server keeps a built document in memory for a second
    page = browser.new_context().new_page()
    page.goto(f"{live_app}/status/incidents/{incident.pk}/")
    section = page.locator("section.postmortem")
    expect(section.get_by_role("heading", name="Postmortem")).to_be_visible()
    expect(section).to_contain_text("A bad deploy broke the API.")
    expect(section.locator("em")).to_have_text("deploy")  # markdown, sanitized
    expect(section).to_contain_text("A missing index.")
    expect(section).to_contain_text("Load-test migrations.")
    # Below the updates, as Statuspage shows it.
    below = page.evaluate("""() => {
        const timeline = document.querySelector('.public-timeline'), postmortem = document.querySelector('section.postmortem');
        return !!(timeline.compareDocumentPosition(postmortem) & Node.DOCUMENT_POSITION_FOLLOWING);
    }""")
    assert below
    for feed in ("history.rss", "history.atom"):
        body = page.request.get(f"{live_app}/status/{feed}").text()
        assert "Postmortem" in body and "A missing index." in body, feed


def test_times_show_their_zone_and_the_page_can_choose_a_12_or_24_hour_clock(live_app, browser, resolved_with_postmortem, responder):
    incident, _postmortem = resolved_with_postmortem
    page_row = StatusPage.objects.get(slug="public")
    page_row.time_zone = "Europe/Berlin"
    page_row.save()
    now = timezone.now()
    incident_services.maintenance_save(maintenance=Maintenance(title="Database upgrade", starts_at=now + timedelta(days=1),
                                                               ends_at=now + timedelta(days=1, hours=2)),
                                       components=[], by=responder, now=now)
    rebuild_all()
    browser_page = browser.new_context().new_page()
    browser_page.goto(f"{live_app}/status/")
    # The upcoming window: both ends carry the zone.
    stamps = browser_page.locator(".status-maintenance time").all_inner_texts()
    assert len(stamps) == 2
    for stamp in stamps:
        assert re.fullmatch(r"\w{3} \d{1,2}, \d{2}:\d{2} CES?T", stamp), stamp
    browser_page.goto(f"{live_app}/status/incidents/{incident.pk}/")
    stamp = browser_page.locator(".public-timeline time").first.inner_text()
    assert re.fullmatch(r"\w{3} \d{1,2}, \d{4} \d{2}:\d{2} CES?T", stamp), stamp

    page_row.clock = StatusPage.Clock.H12
    page_row.save()
    rebuild_all()
    time.sleep(1.1)
    browser_page = browser.new_context().new_page()
    browser_page.goto(f"{live_app}/status/incidents/{incident.pk}/")
    stamp = browser_page.locator(".public-timeline time").first.inner_text()
    assert re.fullmatch(r"\w{3} \d{1,2}, \d{4} \d{1,2}:\d{2} [AP]\.?M\.? CES?T", stamp), stamp


@pytest.mark.parametrize("javascript", [True, False])
def test_the_subscribe_form_asks_for_the_webhook_url_only_once_webhook_is_chosen(live_app, browser, five_components, javascript):
    page = browser.new_context(java_script_enabled=javascript).new_page()
    page.goto(f"{live_app}/status/subscribe/")
    url_field = page.get_by_label("Webhook URL")
    expect(page.get_by_label("Email address")).to_be_visible()
    expect(url_field).to_be_hidden()
    page.get_by_role("radio", name="Webhook").check()
    expect(url_field).to_be_visible()
    page.get_by_role("radio", name="Email").check()
    expect(url_field).to_be_hidden()


def test_the_staff_footer_links_the_served_docs_and_the_page_has_an_icon(live_app, browser, viewer):
    page = browser.new_context().new_page()
    login(page, live_app, "vera-viewer")
    assert page.locator('link[rel="icon"]').count() == 1
    assert page.request.get(f"{live_app}" + page.locator('link[rel="icon"]').get_attribute("href")).ok
    page.locator("footer").get_by_role("link", name="Operator docs").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Operator docs")
    page.get_by_role("link", name="Status pages").first.click()
    expect(page.locator(".docs-body table").first).to_be_visible()


def test_the_console_header_follows_updates_without_a_reload(live_app, browser, responder, admin_user):
    Component.objects.create(name="Checkout")
    incident = incident_services.incident_open(title="Checkout slow", impact="minor", message="Looking", by=responder,
                                               now=timezone.now())
    poster, watcher = browser.new_context().new_page(), browser.new_context().new_page()
    login(poster, live_app, "rory-responder")
    login(watcher, live_app, "ada-admin")
    for page in (poster, watcher):
        page.goto(f"{live_app}/incidents/{incident.pk}/")
        expect(page.locator("#incident-head .badge.status-investigating")).to_have_text("Investigating")
        page.evaluate("window.notReloaded = true")
    watcher.wait_for_timeout(500)  # let the websocket connect
    poster.get_by_label("Status").select_option("resolved")
    poster.get_by_label("Message").fill("Fast again.")
    poster.get_by_role("button", name="Post update").click()
    for page in (poster, watcher):
        expect(page.locator("#incident-head .badge.status-resolved")).to_have_text("Resolved", timeout=10_000)
        expect(page.locator("#incident-head")).to_contain_text("lasted")
        expect(page.locator("#incident-head")).to_contain_text("Write the postmortem")
        assert page.evaluate("window.notReloaded") is True


@pytest.mark.parametrize("javascript", [True, False])
def test_choosing_a_template_keeps_what_was_typed(live_app, browser, responder, javascript):
    page = browser.new_context(java_script_enabled=javascript).new_page()
    login(page, live_app, "rory-responder")
    page.goto(f"{live_app}/incidents/declare/")
    page.get_by_label("Title").fill("Search is slow")
    page.get_by_label("Message").fill("Queries take 10 s.")
    if javascript:
        page.get_by_label("Template").select_option("investigating")
    else:
        page.get_by_role("button", name="Add the status's template").click()
    expect(page.get_by_label("Message")).to_have_value(re.compile(r"^Queries take 10 s\.\n\nWe are investigating reports"))
    expect(page.get_by_label("Title")).to_have_value("Search is slow")
    page.get_by_role("button", name="Declare incident").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Search is slow")
    expect(page.locator("#timeline")).to_contain_text("Queries take 10 s.")


def test_a_phone_sees_the_last_30_days_and_a_desktop_90(live_app, browser, five_components):
    rebuild_all()
    phone = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
    phone.goto(f"{live_app}/status/")
    bars = phone.locator(f"#component-{five_components[0].pk} .uptime-bars .bar")
    assert bars.count() == 90
    assert bars.evaluate_all("els => els.filter(e => e.offsetParent !== null).length") == 30
    assert "Uptime over the past 30 days" in phone.locator(".uptime-legend").inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    desktop = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    desktop.goto(f"{live_app}/status/")
    assert "Uptime over the past 90 days" in desktop.locator(".uptime-legend").inner_text()
    assert desktop.locator(f"#component-{five_components[0].pk} .uptime-bars .bar").evaluate_all(
        "els => els.filter(e => e.offsetParent !== null).length") == 90


def contrast_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "rule", "values": ["color-contrast"]}})
    return [f"{node['target']}: {node['failureSummary']}" for violation in results.response["violations"] for node in violation["nodes"]]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_public_and_staff_pages_pass_contrast_checks_in_both_themes(live_app, browser, resolved_with_postmortem, responder, scheme):
    incident, postmortem = resolved_with_postmortem
    incident_services.postmortem_publish(postmortem_id=postmortem.pk, by=responder, now=timezone.now())
    Component.objects.filter(name="Website").update(status="degraded_performance")
    Component.objects.filter(name="Email").update(status="partial_outage")
    rebuild_all()
    page = browser.new_context(color_scheme=scheme).new_page()
    problems: list[str] = []
    for path in ["/status/", f"/status/incidents/{incident.pk}/", "/status/history/", "/status/subscribe/"]:
        page.goto(f"{live_app}{path}")
        problems += [f"{path} {line}" for line in contrast_violations(page)]
    login(page, live_app, "rory-responder")
    for path in ["/dashboard/", "/monitors/", "/incidents/", f"/incidents/{incident.pk}/", "/incidents/declare/", "/slos/", "/docs/"]:
        page.goto(f"{live_app}{path}")
        problems += [f"{path} {line}" for line in contrast_violations(page)]
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(13, 17, 23)") == (scheme == "dark"), background
    assert problems == [], "\n".join(problems)


def test_the_uptime_bars_are_reachable_by_keyboard(live_app, browser, page_with_incident_day):
    component = page_with_incident_day
    page = browser.new_context().new_page()
    page.goto(f"{live_app}/status/")
    bars = page.locator(f"#component-{component.pk} .uptime-bars .bar")
    # One tab stop per component: today's bar.
    assert bars.evaluate_all("els => els.filter(e => e.tabIndex === 0).length") == 1
    page.locator(".components-panel summary, .components-panel .bar[tabindex='0']").first.focus()
    today = bars.last
    today.focus()
    expect(today).to_be_focused()
    for _ in range(2):
        page.keyboard.press("ArrowLeft")
    day = bars.nth(87)
    expect(day).to_be_focused()
    assert day.locator(".tip").bounding_box()["width"] > 50  # the tooltip shows for the focused day
    expect(day.locator(".tip")).to_contain_text("API errors")
    page.keyboard.press("Home")
    expect(bars.first).to_be_focused()
    page.keyboard.press("End")
    expect(today).to_be_focused()


@pytest.fixture
def page_with_incident_day(five_components, responder):
    api = five_components[0]
    started = timezone.now() - timedelta(days=2, hours=1)
    incident = incident_services.incident_open(title="API errors", impact="major", message="Errors", components={api.pk: "major_outage"},
                                               by=responder, now=started)
    incident_services.incident_post_update(incident_id=incident.pk, expected_version=None, status="resolved", message="Fixed",
                                           components={api.pk: "operational"}, by=responder, now=started + timedelta(minutes=30))
    rebuild_all()
    return api


def deliver_due_like_a_worker(now=None) -> None:
    from alerting import services as alerting_services

    now = now or timezone.now()
    for notification_id in alerting_services.claim_due(now=now):
        alerting_services.deliver(notification_id=notification_id, now=now)


def test_the_set_up_checklist_leads_to_a_working_default_rule(live_app, browser, admin_user):
    from alerting import services as alerting_services
    from alerting.models import AlertRule
    from monitors.models import Monitor

    receiver = HTTPServer({"/hook": lambda handler: respond(handler, 200, b"ok")})
    try:
        monitor = Monitor.objects.create(name="checkout-api", kind="http", target="http://127.0.0.1:9/", state="down",
                                         state_since=timezone.now())
        page = browser.new_context().new_page()
        login(page, live_app, "ada-admin")
        # A fresh install: the overview says nobody is notified, for the install and for the down monitor.
        expect(page.get_by_role("heading", name="Set-up checklist: nobody is notified yet")).to_be_visible()
        expect(page.locator('tr[data-monitor="checkout-api"]')).to_contain_text("down, nobody notified")
        page.get_by_role("link", name="Set up alerting").click()

        page.get_by_label("Name", exact=True).fill("Ops webhook")
        page.get_by_label("Kind").select_option("webhook")
        page.get_by_label("Address").fill("not a url")
        page.get_by_role("button", name="Add the channel and send a test").click()
        expect(page.locator(".field.has-error")).to_contain_text("url must be an http(s) address")
        page.get_by_label("Address").fill(f"{receiver.url}/hook")
        page.get_by_role("button", name="Add the channel and send a test").click()
        expect(page.locator("#step-channel")).to_contain_text("Ops webhook")
        deliver_due_like_a_worker()
        assert [path for _method, path, _headers, _body in receiver.requests] == ["/hook"]  # the test message arrived
        page.reload()
        expect(page.locator("#step-channel")).to_contain_text("delivered")

        page.get_by_role("button", name="Create the rule for Ops webhook").click()
        expect(page.locator("#step-rule h2")).to_contain_text("✓")
        rule = AlertRule.objects.get()
        assert rule.states == ["down"] and rule.for_seconds == 60 and [c.name for c in rule.channels.all()] == ["Ops webhook"]

        # The rule works: the monitor down for a minute reaches the webhook.
        start = timezone.now()
        alerting_services.on_state_change(monitor=monitor, new_state="down", reason="connection refused", now=start)
        alerting_services.tick(now=start + timedelta(seconds=61))
        alerting_services.tick(now=start + timedelta(seconds=61 + rule.group_wait_seconds))
        deliver_due_like_a_worker(start + timedelta(seconds=62 + rule.group_wait_seconds))
        assert len(receiver.requests) == 2 and b"checkout-api" in receiver.requests[-1][3]

        page.goto(f"{live_app}/dashboard/")
        expect(page.locator("#setup-heading")).to_have_count(0)
        expect(page.locator('tr[data-monitor="checkout-api"]')).not_to_contain_text("nobody notified")
    finally:
        receiver.close()


def test_the_demo_is_healthy_with_a_postmortem_and_the_screenshots_come_from_the_real_pages(live_app, browser, tmp_path):
    import subprocess

    from incidents.models import Incident
    from tests.processes import BIN, process_env

    result = subprocess.run([str(BIN / "python"), "manage.py", "screenshots", "--out", str(tmp_path)], env=process_env(),
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for name in ("screenshot-status-page.png", "screenshot-incident.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, name
    # What the screenshots show: a healthy demo with a resolved past incident and its postmortem.
    page = browser.new_context().new_page()
    page.goto(f"{live_app}/status/")
    expect(page.get_by_role("heading", level=1)).to_have_text("All Systems Operational")
    incident = Incident.objects.get(title=SAMPLE_INCIDENT_TITLE)
    page.goto(f"{live_app}/status/incidents/{incident.pk}/")
    expect(page.locator("section.postmortem")).to_contain_text("Root cause")
    from monitors.models import Monitor

    slow = Monitor.objects.get(name="Demo API slow endpoint")
    delay = int(slow.target.split("delay_ms=")[1])
    assert delay < slow.settings["latency_warn_ms"]  # healthy, not degraded for ever


def test_a_monitor_made_in_one_form_is_tested_before_save_shows_on_its_page_and_alerts(live_app, browser, admin_user, five_components):
    from alerting import services as alerting_services
    from alerting.models import Channel
    from monitors.models import Monitor
    from monitors.tasks import check_batch

    failing = {"now": False}
    target = HTTPServer({"/health": lambda handler: respond(handler, 503 if failing["now"] else 200, b"ok")})
    receiver = HTTPServer({"/hook": lambda handler: respond(handler, 200, b"ok")})
    try:
        Channel.objects.create(name="Ops webhook", kind="webhook", config={"url": f"{receiver.url}/hook"})
        api = five_components[0]
        page = browser.new_context().new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        login(page, live_app, "ada-admin")
        page.goto(f"{live_app}/monitors/")
        page.get_by_role("link", name="New monitor").click()
        # The fields follow the kind (htmx swaps them): a heartbeat has no target but a period.
        page.get_by_label("Kind").select_option("heartbeat")
        expect(page.get_by_label("Expect a ping every (seconds)")).to_be_visible()
        expect(page.locator("#kind-fields input[name=target]")).to_have_count(0)
        page.get_by_label("Kind").select_option("http")
        expect(page.get_by_label("URL", exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="Show this kind's fields")).to_be_hidden()

        page.get_by_label("Name").fill("checkout-api")
        page.get_by_label("URL", exact=True).fill(f"{target.url}/health")
        page.get_by_label("Retries before down").fill("0")
        page.get_by_role("button", name="Test now").click()
        expect(page.locator("#test-result")).to_contain_text("ok")
        expect(page.locator("#test-result")).to_contain_text("HTTP 200")
        assert not Monitor.objects.filter(name="checkout-api").exists()  # tested, not saved

        page.get_by_label("Component").select_option(label=api.name)
        page.get_by_label(StatusPage.objects.get(slug="public").title, exact=True).check()
        page.get_by_label("Ops webhook").check()
        page.get_by_role("button", name="Save monitor").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("checkout-api")
        monitor = Monitor.objects.get(name="checkout-api")
        assert monitor.component == api and monitor.kind == "http"

        # On its status page...
        rebuild_all()
        time.sleep(1.1)
        public = browser.new_context().new_page()
        public.goto(f"{live_app}/status/")
        expect(public.locator(f"#component-{api.pk}")).to_be_visible()

        # ... and alerting through its route when it goes down.
        failing["now"] = True
        slot = timezone.now()
        check_batch([[monitor.pk, slot.isoformat()]], "default")
        events.drain(now=timezone.now())  # what the event consumer task does: the alert rules react
        monitor.refresh_from_db()
        assert monitor.state == "down"
        alerting_services.tick(now=slot + timedelta(seconds=61))
        alerting_services.tick(now=slot + timedelta(seconds=100))
        deliver_due_like_a_worker(slot + timedelta(seconds=101))
        assert any(b"checkout-api" in body for _m, path, _h, body in receiver.requests if path == "/hook")

        # Edit, pause and delete from the monitor's page.
        page.goto(f"{live_app}/monitors/{monitor.pk}/")
        page.get_by_role("link", name="Edit").click()
        expect(page.get_by_label("Name")).to_have_value("checkout-api")
        expect(page.get_by_label("Ops webhook")).to_be_checked()
        page.get_by_label("Check every (seconds)").fill("120")
        page.get_by_role("button", name="Save monitor").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("checkout-api")
        assert Monitor.objects.get(pk=monitor.pk).interval_seconds == 120
        page.get_by_role("button", name="Pause").click()
        expect(page.get_by_role("button", name="Resume")).to_be_visible()
        page.get_by_role("link", name="Clone").click()
        expect(page.get_by_label("Name")).to_have_value("checkout-api (copy)")
        page.goto(f"{live_app}/monitors/{monitor.pk}/")
        page.get_by_role("button", name="Delete").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Monitors")
        assert not Monitor.objects.filter(pk=monitor.pk).exists()
        assert errors == [], errors
    finally:
        target.close()
        receiver.close()
