"""Each channel's exact payload, received by a real local HTTP server; retries, Retry-After,
permanent failures, signatures and test notifications through the real outbox."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from alerting import services
from alerting.models import Channel, Notification
from alerting.tasks import deliver_notifications
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db


class Receiver:
    def __init__(self, answers: list[tuple[int, dict[str, str]]] | None = None, default: int = 200) -> None:
        self.answers = list(answers or [])
        self.default = default
        self.server = HTTPServer({"/hook": self.handle})

    def handle(self, handler) -> None:
        status, headers = self.answers.pop(0) if self.answers else (self.default, {})
        respond(handler, status, b'{"status":"success"}' if status < 300 else b"nope", headers)

    @property
    def bodies(self) -> list[dict]:
        return [json.loads(body) for _m, _p, _h, body in self.server.requests]

    @property
    def url(self) -> str:
        return f"{self.server.url}/hook"


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(*args, **kwargs) -> Receiver:
        made.append(Receiver(*args, **kwargs))
        return made[-1]

    yield make
    for item in made:
        item.server.close()


def queue_test(channel: Channel) -> Notification:
    return services.send_test(channel=channel, now=timezone.now())


def deliver_all(times: int = 1) -> None:
    for _ in range(times):
        deliver_notifications()


def test_slack_gets_block_kit(receiver):
    hook = receiver()
    channel = Channel.objects.create(name="ops-slack", kind="slack", config={"url": hook.url})
    queue_test(channel)
    deliver_all()
    body = hook.bodies[0]
    assert body["text"].startswith("Test notification for ops-slack")
    kinds = [block["type"] for block in body["blocks"]]
    assert kinds[0] == "header" and "section" in kinds and "actions" in kinds and kinds[-1] == "context"
    assert body["blocks"][0]["text"] == {"type": "plain_text", "text": "Test notification for ops-slack", "emoji": True}
    button = next(b for b in body["blocks"] if b["type"] == "actions")["elements"][0]
    assert button["type"] == "button" and button["url"].startswith("http")
    assert Notification.objects.get().status == "sent"
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("vigil_notification_deliveries_total", {"kind": "slack", "outcome": "sent"}) >= 1


def test_discord_gets_an_embed(receiver):
    hook = receiver()
    queue_test(Channel.objects.create(name="ops-discord", kind="discord", config={"url": hook.url}))
    deliver_all()
    body = hook.bodies[0]
    embed = body["embeds"][0]
    assert embed["title"] == "Test notification for ops-discord" and isinstance(embed["color"], int)
    assert {"name": "Channel", "value": "ops-discord", "inline": True} in embed["fields"]
    assert body["allowed_mentions"] == {"parse": []}  # an alert text never pings @everyone


def test_teams_gets_an_adaptive_card(receiver):
    hook = receiver()
    queue_test(Channel.objects.create(name="ops-teams", kind="teams", config={"url": hook.url}))
    deliver_all()
    body = hook.bodies[0]
    assert body["type"] == "message"
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert any(block["type"] == "FactSet" for block in card["body"])
    assert card["actions"][0]["type"] == "Action.OpenUrl"


def test_pagerduty_gets_an_events_v2_trigger_with_a_dedup_key(receiver):
    hook = receiver(default=202)
    queue_test(Channel.objects.create(name="pd", kind="pagerduty", config={"routing_key": "R0UTINGKEY", "url": hook.url}))
    deliver_all()
    event = hook.bodies[0]
    assert event["routing_key"] == "R0UTINGKEY" and event["event_action"] == "trigger"
    assert event["dedup_key"].startswith("vigil-test-")
    assert set(event["payload"]) >= {"summary", "source", "severity", "timestamp", "custom_details"}
    assert event["payload"]["severity"] in ("critical", "error", "warning", "info")


def test_pagerduty_must_answer_202(receiver):
    hook = receiver(default=200)
    queue_test(Channel.objects.create(name="pd", kind="pagerduty", config={"routing_key": "k", "url": hook.url}))
    deliver_all()
    assert Notification.objects.get().status == "pending" and "not 202" in Notification.objects.get().last_error


def test_email_has_html_and_text():
    queue_test(Channel.objects.create(name="ops-mail", kind="email", config={"to": ["ops@example.com", "oncall@example.com"]}))
    deliver_all()
    [message] = mail.outbox
    assert message.to == ["ops@example.com", "oncall@example.com"]
    assert message.subject == "[INFO] Test notification for ops-mail"
    assert "Vigil can reach this channel" in message.body and message.alternatives[0][1] == "text/html"
    assert message.extra_headers["X-Vigil-Notification"] == str(Notification.objects.get().uid)


def test_the_webhook_signature_verifies_at_the_receiver(receiver):
    hook = receiver()
    queue_test(Channel.objects.create(name="hook", kind="webhook", config={"url": hook.url, "secret": "s3cret"}))
    deliver_all()
    _method, _path, headers, body = hook.server.requests[0]
    expected = hmac.new(b"s3cret", headers["X-Vigil-Timestamp"].encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Vigil-Signature"] == f"sha256={expected}"
    assert headers["X-Vigil-Delivery"] == str(Notification.objects.get().uid)
    payload = json.loads(body)
    assert payload["version"] == "1" and payload["kind"] == "test" and payload["status"] == "firing"


def test_a_500_is_retried_with_backoff_and_a_429_waits_for_retry_after(receiver):
    hook = receiver([(500, {}), (429, {"Retry-After": "90"})])
    queue_test(Channel.objects.create(name="hook", kind="webhook", config={"url": hook.url}))
    deliver_all()
    notification = Notification.objects.get()
    assert (notification.status, notification.attempts, notification.response_code) == ("pending", 1, 500)
    deliver_all()  # not due yet: nothing sent
    assert len(hook.server.requests) == 1
    with time_machine.travel(timezone.now() + timedelta(seconds=11)):
        deliver_all()
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.response_code) == ("pending", 2, 429)
    assert 80 < (notification.next_attempt_at - timezone.now()).total_seconds() <= 101
    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        deliver_all()
    assert len(hook.server.requests) == 2
    with time_machine.travel(timezone.now() + timedelta(seconds=130)):
        deliver_all()
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("sent", 3)
    # Every attempt carried the same delivery id.
    assert len({headers["X-Vigil-Delivery"] for _m, _p, headers, _b in hook.server.requests}) == 1


def test_a_permanent_error_stops_at_once_and_a_dead_receiver_after_n_attempts(receiver):
    gone = receiver(default=410)
    queue_test(Channel.objects.create(name="gone", kind="slack", config={"url": gone.url}))
    deliver_all()
    assert Notification.objects.get().status == "failed" and Notification.objects.get().attempts == 1
    Notification.objects.all().delete()
    broken = receiver(default=503)
    queue_test(Channel.objects.create(name="broken", kind="discord", config={"url": broken.url}))
    now = timezone.now()
    for step in range(Notification.max_attempts + 2):
        with time_machine.travel(now + timedelta(hours=step)):
            deliver_all()
    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == ("failed", Notification.max_attempts)
    assert len(broken.server.requests) == Notification.max_attempts


def test_one_failing_channel_does_not_hold_up_another(receiver):
    slow_dead = receiver(default=500)
    fine = receiver()
    queue_test(Channel.objects.create(name="dead", kind="webhook", config={"url": slow_dead.url}))
    queue_test(Channel.objects.create(name="fine", kind="webhook", config={"url": fine.url}))
    deliver_all()
    assert len(fine.server.requests) == 1
    assert Notification.objects.get(channel__name="fine").status == "sent"


def test_channel_configuration_errors_name_the_fix():
    from django.core.exceptions import ValidationError

    for kind, config, words in [("slack", {}, "needs url"), ("pagerduty", {"url": "x"}, "needs routing_key"),
                                ("email", {"to": "not-an-address"}, "list addresses"), ("webhook", {"url": "ftp://x"}, "http(s)")]:
        with pytest.raises(ValidationError) as error:
            Channel(name=f"c-{kind}", kind=kind, config=config).full_clean()
        assert words in str(error.value), (kind, error.value)


def test_the_admin_never_shows_a_saved_secret(client, admin_user):
    channel = Channel.objects.create(name="ops-slack", kind="slack", config={"url": "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"})
    client.force_login(admin_user)
    assert "XXXXSECRETXXXX" not in client.get("/admin/alerting/channel/").content.decode()
    page = client.get(f"/admin/alerting/channel/{channel.pk}/change/").content.decode()
    assert "XXXXSECRETXXXX" not in page
    response = client.post("/admin/alerting/channel/", {"action": "send_test_notification", "_selected_action": [channel.pk]}, follow=True)
    assert "test notification(s) queued" in response.content.decode()
