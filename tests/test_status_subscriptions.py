"""Subscriptions: double opt-in, one-click unsubscribe, per-component choice, signed
webhooks to a real local receiver with retries, and each event delivered once."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from core import events
from core.tasks import run_consumers
from incidents import services as incident_services
from incidents.models import Component, Maintenance
from statuspage import services
from statuspage.models import StatusPage, Subscriber, SubscriberDelivery, SubscriberEvent
from statuspage.tasks import deliver_due, subscriber_events
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db


@pytest.fixture
def components():
    return {"api": Component.objects.create(name="API"), "web": Component.objects.create(name="Website")}


def link_in(message) -> str:
    found = re.search(r"https?://[^/\s]+(/status/\S+)", message.body)
    assert found, message.body
    return found.group(1)


def subscribe_email(client, capture, email="ops@example.com", components=()):
    with capture(execute=True):
        response = client.post("/status/subscribe/", {"kind": "email", "email": email, "components": [c.pk for c in components]})
    assert response.status_code == 200 and "Check your inbox" in response.content.decode()
    return mail.outbox[-1]


def post_update(responder, capture, component, message="We are looking into it", **kwargs):
    with capture(execute=True):
        incident = incident_services.incident_open(title="Checkout errors", impact="major", message=message,
                                                   components={component.pk: "partial_outage"}, by=responder, now=timezone.now(), **kwargs)
        events.drain(now=timezone.now())  # the status pages' consumer, as its task runs it after the commit
    return incident


def test_double_opt_in_then_updates_then_one_click_unsubscribe(client, responder, components, django_capture_on_commit_callbacks):
    confirmation = subscribe_email(client, django_capture_on_commit_callbacks)
    subscriber = Subscriber.objects.get()
    assert confirmation.to == ["ops@example.com"] and subscriber.confirmed_at is None
    # Before confirming, nothing is sent.
    post_update(responder, django_capture_on_commit_callbacks, components["api"])
    subscriber_events()
    deliver_due()
    assert len(mail.outbox) == 1
    assert client.get(link_in(confirmation)).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.confirmed_at is not None
    incident = post_update(responder, django_capture_on_commit_callbacks, components["api"], message="Second outage")
    subscriber_events()
    deliver_due()
    notification = mail.outbox[-1]
    assert notification.subject.endswith("Checkout errors: Investigating")
    assert "Second outage" in notification.body and f"/status/incidents/{incident.pk}/" in notification.body
    html, mime = notification.alternatives[0]
    assert mime == "text/html" and "Second outage" in html
    unsubscribe_url = notification.extra_headers["List-Unsubscribe"].strip("<>")
    assert notification.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = re.sub(r"^https?://[^/]+", "", unsubscribe_url)
    # RFC 8058 one-click: a POST with no CSRF token (mail clients send none).
    from django.test import Client

    assert Client(enforce_csrf_checks=True).post(path, {"List-Unsubscribe": "One-Click"}).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.unsubscribed_at is not None
    post_update(responder, django_capture_on_commit_callbacks, components["api"], message="Third")
    subscriber_events()
    deliver_due()
    assert "Third" not in mail.outbox[-1].body


def test_a_forged_or_expired_link_is_refused_with_a_clear_message(client, components, django_capture_on_commit_callbacks):
    confirmation = subscribe_email(client, django_capture_on_commit_callbacks)
    link = link_in(confirmation)
    response = client.get(link[:-5] + "xxxx/")
    assert response.status_code == 400 and "copy the whole link" in response.content.decode()
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        response = client.get(link)
    assert response.status_code == 400 and "expired" in response.content.decode()


def test_subscribers_hear_only_about_the_components_they_chose(client, responder, components, django_capture_on_commit_callbacks):
    for email, chosen in [("api@example.com", [components["api"]]), ("web@example.com", [components["web"]]), ("all@example.com", [])]:
        confirmation = subscribe_email(client, django_capture_on_commit_callbacks, email=email, components=chosen)
        client.get(link_in(confirmation))
    mail.outbox.clear()
    post_update(responder, django_capture_on_commit_callbacks, components["api"])
    subscriber_events()
    deliver_due()
    assert sorted(m.to[0] for m in mail.outbox) == ["all@example.com", "api@example.com"]


def test_each_event_reaches_each_subscriber_once(client, responder, components, django_capture_on_commit_callbacks):
    client.get(link_in(subscribe_email(client, django_capture_on_commit_callbacks)))
    mail.outbox.clear()
    post_update(responder, django_capture_on_commit_callbacks, components["api"])
    for _ in range(3):
        run_consumers()
        services.fan_out(now=timezone.now())
        deliver_due()
    assert len(mail.outbox) == 1
    assert SubscriberEvent.objects.count() == 1 and SubscriberDelivery.objects.get().status == "sent"


def test_the_periodic_consumer_run_announces_an_update_whose_wake_up_was_lost(client, responder, components, django_capture_on_commit_callbacks):
    client.get(link_in(subscribe_email(client, django_capture_on_commit_callbacks)))
    mail.outbox.clear()
    # No on-commit callbacks run: as if the process died right after the commit (or the broker was down).
    incident_services.incident_open(title="Lost hook", impact="minor", message="m", components={components["api"].pk: "degraded_performance"},
                                    by=responder, now=timezone.now())
    assert SubscriberEvent.objects.count() == 0
    run_consumers()  # what beat runs every 2 s
    subscriber_events()
    deliver_due()
    assert [m.subject for m in mail.outbox] == ["[Service status] Lost hook: Investigating"]


def test_maintenance_is_announced_when_scheduled_started_and_completed(client, responder, components, django_capture_on_commit_callbacks):
    client.get(link_in(subscribe_email(client, django_capture_on_commit_callbacks)))
    mail.outbox.clear()
    now = timezone.now()
    window = Maintenance(title="DB upgrade", starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        incident_services.maintenance_save(maintenance=window, components=[components["api"]], by=responder, now=now)
        incident_services.maintenance_set_status(maintenance_id=window.pk, status="in_progress", by=responder, now=now)
        incident_services.maintenance_set_status(maintenance_id=window.pk, status="completed", by=responder, now=now)
        # The status pages' consumer reads the three maintenance.changed events afterwards, each as it was.
        events.drain(now=now)
    subscriber_events()
    deliver_due()
    assert sorted(m.subject for m in mail.outbox) == [
        "[Service status] Maintenance completed: DB upgrade",
        "[Service status] Maintenance in progress: DB upgrade",
        "[Service status] Maintenance scheduled: DB upgrade",
    ]


class Receiver:
    """A real webhook receiver on 127.0.0.1 that verifies Vigil's signature."""

    def __init__(self, answers: list[tuple[int, dict[str, str]]]) -> None:
        self.answers = answers
        self.secret = ""
        self.verified: list[dict] = []
        self.server = HTTPServer({"/hook": self.handle})

    def handle(self, handler) -> None:
        _method, _path, headers, body = self.server.requests[-1]
        expected = hmac.new(self.secret.encode(), headers["X-Vigil-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers["X-Vigil-Signature"], f"sha256={expected}"):
            respond(handler, 401, b"bad signature")
            return
        status, extra = self.answers.pop(0) if self.answers else (200, {})
        if status == 200:
            self.verified.append(json.loads(body))
        respond(handler, status, b"ok", extra)


@pytest.fixture
def receiver(settings):
    # The receivers listen on 127.0.0.1, which the egress policy refuses by default.
    settings.VIGIL_EGRESS_SUBSCRIBER_ALLOW = ["public", "127.0.0.0/8"]
    made: list[Receiver] = []

    def make(answers):
        made.append(Receiver(answers))
        return made[-1]

    yield make
    for item in made:
        item.server.close()


def subscribe_webhook(client, capture, receiver) -> Subscriber:
    with capture(execute=True):
        client.post("/status/subscribe/", {"kind": "webhook", "email": "hooks@example.com", "webhook_url": f"{receiver.server.url}/hook"})
    page = client.get(link_in(mail.outbox[-1])).content.decode()
    receiver.secret = re.search(r'id="webhook-secret">([0-9a-f]{64})<', page).group(1)
    # The secret is shown once only.
    assert receiver.secret not in client.get(link_in(mail.outbox[-1])).content.decode()
    return Subscriber.objects.get(kind="webhook")


def test_a_signed_webhook_survives_a_500_and_a_429_with_retry_after(client, responder, components, receiver, django_capture_on_commit_callbacks):
    hook = receiver([(500, {}), (429, {"Retry-After": "120"})])
    subscriber = subscribe_webhook(client, django_capture_on_commit_callbacks, hook)
    incident = post_update(responder, django_capture_on_commit_callbacks, components["api"])
    assert hook.server.requests == []  # posting never waits for a receiver
    subscriber_events()
    deliver_due()
    delivery = SubscriberDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, 500)
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        deliver_due()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 2, 429)
    retry_in = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 100 < retry_in <= 151  # Retry-After: 120, counted from the travelled clock
    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        deliver_due()
    assert SubscriberDelivery.objects.get().status == "pending"  # not before Retry-After
    with time_machine.travel(timezone.now() + timedelta(seconds=200)):
        deliver_due()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 3)
    [payload] = hook.verified
    assert payload["incident"]["id"] == str(incident.pk) and payload["incident"]["name"] == "Checkout errors"
    assert payload["meta"]["event"] == "incident.update" and payload["page"]["status_indicator"] == "major"
    assert subscriber.pk


def test_a_receiver_that_keeps_failing_is_disabled(client, responder, components, receiver, django_capture_on_commit_callbacks):
    hook = receiver([(410, {})] * 10)
    subscribe_webhook(client, django_capture_on_commit_callbacks, hook)
    for index in range(services.DISABLE_AFTER_FAILURES):
        post_update(responder, django_capture_on_commit_callbacks, components["api"], message=f"update {index}")
        subscriber_events()
        deliver_due()
    subscriber = Subscriber.objects.get(kind="webhook")
    assert subscriber.disabled_at is not None and "failed in a row" in subscriber.disabled_reason
    assert SubscriberDelivery.objects.filter(status="failed").count() == services.DISABLE_AFTER_FAILURES
    post_update(responder, django_capture_on_commit_callbacks, components["api"], message="after")
    subscriber_events()
    assert SubscriberDelivery.objects.count() == services.DISABLE_AFTER_FAILURES  # no more rows for a disabled one


def test_subscribe_form_errors_name_the_field(client, components):
    response = client.post("/status/subscribe/", {"kind": "webhook", "email": "not-an-email"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Email address: Enter a valid email address." in html
    assert "Webhook URL: A webhook subscription needs the URL" in html
    page = StatusPage.objects.get(slug="public")
    page.allow_subscriptions = False
    page.save()
    assert client.get("/status/subscribe/").status_code == 404


def test_subscribing_is_rate_limited_per_address(client, components, django_capture_on_commit_callbacks):
    for index in range(10):
        subscribe_email(client, django_capture_on_commit_callbacks, email=f"u{index}@example.com")
    response = client.post("/status/subscribe/", {"kind": "email", "email": "u11@example.com"})
    assert response.status_code == 400 and "Too many subscription requests" in response.content.decode()
