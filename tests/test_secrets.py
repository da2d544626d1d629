"""Secrets written as env:NAME: read where they are used, named when missing, masked where shown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from alerting import services
from alerting.models import Channel, Notification
from alerting.tasks import deliver_notifications
from core.secrets import (
    SECRET_MASK,
    MissingSecret,
    is_env_reference,
    mask_secrets,
    missing_references,
    resolve,
    resolve_all,
    restore_masked,
)
from monitors.checkers import run_check
from monitors.checkers.base import CheckSession
from monitors.models import Monitor
from tests.servers import HTTPServer, respond

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def test_a_plain_value_is_itself_and_a_reference_reads_the_environment():
    assert resolve("hunter2", what="x") == "hunter2"
    assert resolve("env:DB_PASSWORD", what="x", environ={"DB_PASSWORD": "s3cret"}) == "s3cret"
    assert resolve("env:EMPTY", what="x", environ={"EMPTY": ""}) == ""
    assert is_env_reference("env:A") and not is_env_reference("env:") and not is_env_reference("environment") and not is_env_reference(3)


def test_a_missing_variable_names_the_setting_the_variable_and_the_fix():
    with pytest.raises(MissingSecret) as raised:
        resolve("env:PGPASSWORD_API", what="monitor 'orders db': settings.password", environ={})
    assert str(raised.value) == ("monitor 'orders db': settings.password: set the environment variable PGPASSWORD_API for the worker "
                                 "(its config says env:PGPASSWORD_API)")


def test_missing_references_are_found_anywhere_in_nested_settings_once_each():
    settings = {"auth": {"type": "basic", "password": "env:A"}, "headers": {"X-Key": "env:B"}, "list": ["env:A", "env:C", "plain"]}
    assert missing_references(settings, environ={"C": "set"}) == ["A", "B"]
    assert missing_references("env:D", environ={}) == ["D"]
    assert missing_references({"password": "plain"}, environ={}) == []


def test_resolving_a_channel_config_names_every_missing_variable_at_once():
    with pytest.raises(MissingSecret, match=r"channel 'pager': set the environment variables KEY, SIGN for the worker \(its config says env:KEY, env:SIGN\)"):
        resolve_all({"routing_key": "env:KEY", "secret": "env:SIGN"}, what="channel 'pager'", environ={})
    assert resolve_all({"url": "env:URL", "to": ["a@example.com"]}, what="c", environ={"URL": "https://hooks"}) == {
        "url": "https://hooks", "to": ["a@example.com"]}


def test_stored_secrets_are_masked_and_references_stay_readable():
    shown = mask_secrets({"password": "hunter2", "token": "env:PROBE_TOKEN", "auth": {"api_key": "k"}, "keyword": "ok", "secret": ""})
    assert shown == {"password": SECRET_MASK, "token": "env:PROBE_TOKEN", "auth": {"api_key": SECRET_MASK}, "keyword": "ok", "secret": ""}
    assert Channel(kind="webhook", config={"url": "https://x", "secret": "env:SIGN", "to": "y"}).masked_config() == {
        "url": SECRET_MASK, "secret": "env:SIGN", "to": "y"}


def test_a_mask_sent_back_keeps_the_stored_secret_and_a_new_value_replaces_it():
    stored = {"auth": {"password": "hunter2", "token": "old"}, "list": ["a"]}
    sent = {"auth": {"password": SECRET_MASK, "token": "new"}, "list": [SECRET_MASK], "extra": SECRET_MASK}
    assert restore_masked(sent, stored) == {"auth": {"password": "hunter2", "token": "new"}, "list": ["a"], "extra": ""}


@pytest.mark.django_db
def test_a_check_whose_password_variable_is_unset_is_down_with_the_fix(monkeypatch):
    monkeypatch.delenv("VIGIL_TEST_REDIS_PASSWORD", raising=False)
    monitor = Monitor(name="cache", kind="redis", target="redis://127.0.0.1:1/0", timeout_seconds=1,
                      settings={"password": "env:VIGIL_TEST_REDIS_PASSWORD"})
    result = run_check(monitor, CheckSession(), NOW)
    assert result.outcome == "down"
    assert result.message == ("monitor 'cache': settings.password: set the environment variable VIGIL_TEST_REDIS_PASSWORD for the worker "
                              "(its config says env:VIGIL_TEST_REDIS_PASSWORD)")


@pytest.mark.django_db
def test_a_channel_reads_its_url_from_the_environment_when_sending(monkeypatch):
    server = HTTPServer({"/hook": lambda handler: respond(handler, 200, b"ok")})
    try:
        channel = Channel.objects.create(name="ops-slack", kind="slack", config={"url": "env:VIGIL_TEST_SLACK_URL"})
        monkeypatch.delenv("VIGIL_TEST_SLACK_URL", raising=False)
        services.send_test(channel=channel, now=timezone.now())
        deliver_notifications()
        failed = Notification.objects.get()
        assert failed.status == Notification.Status.FAILED
        assert "set the environment variable VIGIL_TEST_SLACK_URL for the worker" in failed.last_error
        assert server.requests == []

        monkeypatch.setenv("VIGIL_TEST_SLACK_URL", f"{server.url}/hook")
        services.send_test(channel=channel, now=timezone.now())
        deliver_notifications()
        assert Notification.objects.filter(status=Notification.Status.SENT).count() == 1
        assert len(server.requests) == 1
    finally:
        server.close()
