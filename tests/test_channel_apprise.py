"""The apprise channel kind: any Apprise URL, delivered through the same outbox as the native kinds.

A real Apprise json:// URL posts to a local receiver started here; Apprise's failures are
retried like a receiver's 5xx, a URL Apprise cannot read fails for good, the URL is a secret
that never shows back, and a self-hosted service's host obeys the egress policy."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from alerting import services
from alerting.models import Channel, Notification
from alerting.tasks import deliver_notifications
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db


class Receiver:
    """Answers each request with the next status in `answers` (then 200)."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.server = HTTPServer({"/notify": self.handle})

    def handle(self, handler) -> None:
        respond(handler, self.answers.pop(0) if self.answers else 200, b"ok")

    @property
    def bodies(self) -> list[dict]:
        return [json.loads(body) for _m, _p, _h, body in self.server.requests]

    @property
    def apprise_url(self) -> str:
        return f"json://127.0.0.1:{self.server.port}/notify"


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(answers: list[int] | None = None) -> Receiver:
        made.append(Receiver(answers))
        return made[-1]

    yield make
    for item in made:
        item.server.close()


def apprise_channel(url: str, name: str = "ops-apprise") -> Channel:
    return Channel.objects.create(name=name, kind="apprise", config={"url": url})


def test_a_test_notification_reaches_the_service_behind_an_apprise_url(receiver):
    hook = receiver()
    services.send_test(channel=apprise_channel(hook.apprise_url), now=timezone.now())
    deliver_notifications()
    notification = Notification.objects.get()
    assert notification.status == "sent" and notification.attempts == 1 and notification.last_error == ""
    [body] = hook.bodies
    assert body["title"] == "Test notification for ops-apprise"
    assert body["type"] == "info"
    assert body["message"].startswith("If you can read this, Vigil can reach this channel.")
    assert "Kind: Apprise" in body["message"] and "Vigil · test notification" in body["message"]


def test_a_firing_alert_is_sent_as_a_failure_and_its_resolution_as_a_success(receiver):
    from alerting.models import AlertRule

    hook = receiver()
    rule = AlertRule.objects.create(name="checkout", states=["down"], group_wait_seconds=0, runbook_text="Restart the pods.")
    rule.channels.add(apprise_channel(hook.apprise_url))
    now = timezone.now()
    services.alert_raise(rule=rule, key="test:1", labels={"rule": "checkout"}, summary="checkout is down", value="HTTP 502", now=now)
    services.tick(now=now)
    deliver_notifications()
    services.alert_resolve(key="test:1", now=now + timedelta(minutes=10))
    services.tick(now=now + timedelta(minutes=10))
    with time_machine.travel(now + timedelta(minutes=10)):
        deliver_notifications()
    firing, resolved = hook.bodies
    assert (firing["type"], firing["title"]) == ("failure", "checkout is down")
    assert "checkout is down (HTTP 502)" in firing["message"] and "Runbook: Restart the pods." in firing["message"]
    assert (resolved["type"], resolved["title"]) == ("success", "Resolved: checkout is down")


def test_a_failed_notify_is_retried_like_a_native_kind(receiver):
    hook = receiver([500])
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        services.send_test(channel=apprise_channel(hook.apprise_url), now=now)
        deliver_notifications()
    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == ("pending", 1)
    assert notification.next_attempt_at == now + Notification.first_retry
    assert "Apprise (JSON) failed" in notification.last_error and "error=500" in notification.last_error
    deliver_notifications()  # not due yet: nothing sent
    assert len(hook.server.requests) == 1
    with time_machine.travel(now + timedelta(seconds=11)):
        deliver_notifications()
    notification.refresh_from_db()
    assert (notification.status, notification.attempts, notification.last_error) == ("sent", 2, "")
    assert len(hook.bodies) == 2 and hook.bodies[0] == hook.bodies[1]


def test_a_service_that_refuses_connections_is_retried(receiver):
    hook = receiver()
    url = hook.apprise_url
    hook.server.close()
    services.send_test(channel=apprise_channel(url), now=timezone.now())
    deliver_notifications()
    notification = Notification.objects.get()
    assert (notification.status, notification.attempts) == ("pending", 1)
    assert notification.next_attempt_at > timezone.now()
    assert "Connection error" in notification.last_error


def test_a_url_apprise_cannot_read_fails_for_good_at_once(monkeypatch):
    # Saved before a change of Apprise version, say, or through an env:NAME that now holds nonsense.
    Channel.objects.bulk_create([Channel(name="stale", kind="apprise", config={"url": "nosuchservice://token"}),
                                 Channel(name="from-env", kind="apprise", config={"url": "env:VIGIL_TEST_APPRISE_URL"})])
    monkeypatch.setenv("VIGIL_TEST_APPRISE_URL", "tgram://")
    for channel in Channel.objects.all():
        services.send_test(channel=channel, now=timezone.now())
    deliver_notifications()
    stale, from_env = Notification.objects.get(channel__name="stale"), Notification.objects.get(channel__name="from-env")
    assert (stale.status, stale.attempts) == ("failed", 1)
    assert "'nosuchservice://' is not a service Apprise knows" in stale.last_error
    assert (from_env.status, from_env.attempts) == ("failed", 1)
    assert "Apprise cannot use this tgram:// URL" in from_env.last_error


def test_the_url_is_read_from_the_environment_when_sending(receiver, monkeypatch):
    hook = receiver()
    monkeypatch.setenv("VIGIL_TEST_APPRISE_URL", hook.apprise_url)
    services.send_test(channel=apprise_channel("env:VIGIL_TEST_APPRISE_URL"), now=timezone.now())
    deliver_notifications()
    assert Notification.objects.get().status == "sent" and len(hook.bodies) == 1


@pytest.mark.parametrize(("url", "words"), [
    ("", "needs url"),
    ("https://hooks.example.com", "'https://' is not a service Apprise knows"),
    ("tgram://", "Apprise cannot use this tgram:// URL (a token, target or option is missing or malformed)"),
    ("telegram bot 123", "an Apprise URL looks like scheme://..."),
])
def test_a_url_apprise_cannot_read_is_refused_naming_the_field(url, words):
    with pytest.raises(ValidationError) as error:
        Channel(name="bad", kind="apprise", config={"url": url}).full_clean()
    assert list(error.value.message_dict) == ["config"]
    assert words in str(error.value)


def test_any_apprise_url_and_an_env_reference_are_accepted():
    for url in ("tgram://123456789:AAHabcdefghijklmnopqrstuvwxyz12345678/12345", "ntfys://ntfy.example.com/ops",
                "pover://userkey1234567890abcdefghijkl@apptoken1234567890abcdefghijk", "env:OPS_TELEGRAM_URL"):
        Channel(name="good", kind="apprise", config={"url": url}).full_clean()


def test_the_url_never_shows_back(client, admin_user, receiver):
    secret_url = "tgram://123456789:AAHsecretsecretsecretsecretsecret12/12345"
    channel = apprise_channel(secret_url)
    assert channel.masked_config() == {"url": "********"}
    client.force_login(admin_user)
    listing = client.get("/admin/alerting/channel/").content.decode()
    page = client.get(f"/admin/alerting/channel/{channel.pk}/change/").content.decode()
    assert "AAHsecret" not in listing and "123456789" not in listing
    assert "AAHsecret" not in page and "123456789" not in page and "tgram://…" in page
    # Saving the form with the masked URL keeps the stored one.
    response = client.post(f"/admin/alerting/channel/{channel.pk}/change/",
                           {"name": "renamed", "kind": "apprise", "config": '{"url": "tgram://…"}', "enabled": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    channel.refresh_from_db()
    assert (channel.name, channel.config) == ("renamed", {"url": secret_url})


def test_a_self_hosted_services_host_obeys_the_egress_policy(responder, admin_user):
    inside = Channel(name="inside", kind="apprise", config={"url": "json://169.254.169.254/latest"})
    with pytest.raises(ValidationError) as error:
        services.channel_save(channel=inside, by=responder)
    assert "169.254.169.254 is a cloud metadata address, which VIGIL_EGRESS_RESPONDER_ALLOW does not allow" in str(error.value)
    # A cloud service's URL holds tokens, not a host: nothing to check.
    services.channel_save(channel=Channel(name="telegram", kind="apprise",
                                          config={"url": "tgram://123456789:AAHabcdefghijklmnopqrstuvwxyz12345678/12345"}), by=responder)
    services.channel_save(channel=inside, by=admin_user)
    assert sorted(Channel.objects.values_list("name", flat=True)) == ["inside", "telegram"]


def test_config_as_code_takes_an_apprise_channel_and_names_a_bad_url(tmp_path):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    path = tmp_path / "vigil.yaml"
    path.write_text("channels:\n  - {name: ops-telegram, kind: apprise, url: env:OPS_TELEGRAM_URL}\n"
                    "  - {name: ops-ntfy, kind: apprise, url: 'ntfys://ntfy.example.com/ops-alerts'}\n")
    call_command("import_config", str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert dict(Channel.objects.values_list("name", "config__url")) == {
        "ops-telegram": "env:OPS_TELEGRAM_URL", "ops-ntfy": "ntfys://ntfy.example.com/ops-alerts"}
    path.write_text("channels:\n  - {name: ops-telegram, kind: apprise, url: 'telegrm://123/456'}\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_config", str(path), stdout=io.StringIO(), stderr=err)
    assert "channels[0] (ops-telegram).config: url: 'telegrm://' is not a service Apprise knows" in err.getvalue()


def test_the_api_creates_an_apprise_channel_and_reads_its_url_back_masked(client, admin_user):
    from api.tokens import token_issue

    _token, clear = token_issue(user=admin_user, name="channels", scope="write")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {clear}"}
    secret_url = "tgram://123456789:AAHsecretsecretsecretsecretsecret12/12345"
    created = client.post("/api/v1/channels", {"name": "ops-telegram", "kind": "apprise", "config": {"url": secret_url}},
                          content_type="application/json", **auth)
    assert created.status_code == 201, created.content
    assert created.json()["config"] == {"url": "********"}
    assert Channel.objects.get().config == {"url": secret_url}
    refused = client.post("/api/v1/channels", {"name": "bad", "kind": "apprise", "config": {"url": "tgram://"}},
                          content_type="application/json", **auth)
    assert refused.status_code in (400, 422) and "Apprise cannot use this tgram:// URL" in refused.content.decode()
