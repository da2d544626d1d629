"""Subscription confirmations are limited per address, per page and in all, so the subscribe
form cannot be used to bomb someone's inbox; what was refused shows on /metrics."""

from __future__ import annotations

import pytest
import time_machine
from django.core import mail

from statuspage.models import StatusPage, Subscriber
from statuspage.snapshot import publish_routes

pytestmark = pytest.mark.django_db


def refused_so_far(client, reason: str) -> float:
    body = client.get("/metrics").content.decode()
    prefix = f'vigil_subscription_confirmations_refused_total{{reason="{reason}"}} '
    lines = [line for line in body.splitlines() if line.startswith(prefix)]
    return float(lines[0].split()[1]) if lines else 0.0


def subscribe(client, email: str, page: str = "/status/", network: str = "192.0.2.1"):
    # Each request from its own network, as an attacker with many addresses would send them.
    return client.post(f"{page}subscribe/", {"kind": "email", "email": email}, REMOTE_ADDR=network)


def second_page() -> StatusPage:
    page = StatusPage.objects.create(slug="partners", title="Partners", allow_subscriptions=True)
    publish_routes()  # what saving a page in the admin does
    return page


def test_one_address_gets_at_most_three_confirmations_a_day(client, django_capture_on_commit_callbacks):
    before = refused_so_far(client, "address")
    second_page()
    with time_machine.travel("2026-12-03 08:00:00Z", tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            answers = [subscribe(client, "victim@example.com", network=f"192.0.2.{n}") for n in range(1, 4)]
            answers.append(subscribe(client, "Victim@Example.com ", page="/status/partners/", network="198.51.100.9"))
        assert [answer.status_code for answer in answers] == [200, 200, 200, 400]
        assert "sent 3 confirmation emails today" in answers[-1].content.decode()
        assert len([m for m in mail.outbox if m.to == ["victim@example.com"]]) == 3
        assert subscribe(client, "someone-else@example.com", network="192.0.2.50").status_code == 200
        clock.move_to("2026-12-04 00:00:01Z")  # a new day
        with django_capture_on_commit_callbacks(execute=True):
            assert subscribe(client, "victim@example.com", network="192.0.2.60").status_code == 200
    assert len([m for m in mail.outbox if m.to == ["victim@example.com"]]) == 4
    assert refused_so_far(client, "address") == before + 1


def test_a_page_sends_at_most_its_hourly_confirmations(client, settings, django_capture_on_commit_callbacks):
    settings.VIGIL_CONFIRMATIONS_PER_PAGE_PER_HOUR = 4
    before = refused_so_far(client, "page")
    second_page()
    with time_machine.travel("2026-12-03 08:10:00Z", tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            answers = [subscribe(client, f"u{n}@example.com", network=f"192.0.2.{n}") for n in range(6)]
            other_page = subscribe(client, "u9@example.com", page="/status/partners/", network="192.0.2.99")
        assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 400, 400]
        assert "This page has sent many confirmation emails in the last hour" in answers[-1].content.decode()
        assert other_page.status_code == 200  # another page has its own allowance
        assert len(mail.outbox) == 5
        assert Subscriber.objects.count() == 5  # a refused request leaves no row behind
        clock.move_to("2026-12-03 09:00:01Z")
        assert subscribe(client, "u20@example.com", network="192.0.2.120").status_code == 200
    assert refused_so_far(client, "page") == before + 2


def test_all_pages_together_send_at_most_the_global_hourly_confirmations(client, settings, django_capture_on_commit_callbacks):
    settings.VIGIL_CONFIRMATIONS_PER_HOUR = 3
    before = refused_so_far(client, "global")
    second_page()
    with time_machine.travel("2026-12-03 08:20:00Z", tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            answers = [subscribe(client, "a@example.com", network="192.0.2.1"),
                       subscribe(client, "b@example.com", page="/status/partners/", network="192.0.2.2"),
                       subscribe(client, "c@example.com", network="192.0.2.3"),
                       subscribe(client, "d@example.com", page="/status/partners/", network="192.0.2.4")]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 400]
    assert "We are sending many confirmation emails right now" in answers[-1].content.decode()
    assert len(mail.outbox) == 3
    assert refused_so_far(client, "global") == before + 1


def test_no_confirmation_is_sent_while_redis_cannot_count(client, settings, django_capture_on_commit_callbacks):
    from core.redis_client import _client

    before = refused_so_far(client, "unavailable")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: a Redis outage
    _client.cache_clear()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            answer = subscribe(client, "ops@example.com")
    finally:
        _client.cache_clear()
    assert answer.status_code == 400
    assert "Subscriptions cannot be confirmed right now; please try again in a few minutes." in answer.content.decode()
    assert mail.outbox == [] and not Subscriber.objects.exists()
    settings.REDIS_URL = settings.CACHES["default"]["LOCATION"]
    assert refused_so_far(client, "unavailable") == before + 1
