"""Inbound integrations are first-class: the ops API, config as code (token: env:NAME) and a
staff page with the exact alertmanager.yml receiver, all through alerting.services."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from alerting.models import Alert, AlertRule, Integration
from api.tokens import token_issue
from tests.test_alertmanager_receiver import payload

pytestmark = pytest.mark.django_db
URL = "/api/v1/integrations/alertmanager"


def webhook(client, token: str):
    return client.post(URL, data=json.dumps(payload()), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")


def import_text(tmp_path, text: str, *flags: str) -> str:
    path = tmp_path / "vigil.yaml"
    path.write_text(text)
    out = io.StringIO()
    call_command("import_config", str(path), *flags, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def export_text() -> str:
    out = io.StringIO()
    call_command("export_config", stdout=out)
    return out.getvalue()


CONFIG = """
alert_rules:
  - {name: prometheus, states: [down], group_wait: 0s}
integrations:
  - {name: prod alertmanager, kind: alertmanager, rule: prometheus, token: env:VIGIL_TEST_AM_TOKEN}
"""


def test_an_integration_from_yaml_with_an_env_token_takes_that_bearer_and_refuses_others(client, tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_TEST_AM_TOKEN", "am-token-from-the-environment-0123")
    import_text(tmp_path, CONFIG)
    integration = Integration.objects.get()
    assert (integration.kind, integration.rule.name, integration.token_env, integration.token_hash) == \
        ("alertmanager", "prometheus", "env:VIGIL_TEST_AM_TOKEN", "")
    assert webhook(client, "am-token-from-the-environment-0123").status_code == 200
    assert webhook(client, "some-other-token-that-is-long-enough").status_code == 401
    assert client.post(URL, data=json.dumps(payload()), content_type="application/json").status_code == 401
    monkeypatch.setenv("VIGIL_TEST_AM_TOKEN", "rotated-in-the-environment-456789")  # read at each request
    assert webhook(client, "am-token-from-the-environment-0123").status_code == 401
    assert webhook(client, "rotated-in-the-environment-456789").status_code == 200
    assert Alert.objects.count() == 1

    # Export writes the reference (never a token), and importing it again changes nothing.
    text = export_text()
    [item] = yaml.safe_load(text)["integrations"]
    assert item == {"name": "prod alertmanager", "kind": "alertmanager", "rule": "prometheus", "token": "env:VIGIL_TEST_AM_TOKEN"}
    assert "0 to create, 0 to update" in import_text(tmp_path, text)


def test_a_literal_token_in_yaml_is_kept_as_a_hash_and_exported_masked(client, tmp_path):
    import_text(tmp_path, CONFIG.replace("env:VIGIL_TEST_AM_TOKEN", "a-literal-token-of-enough-length"))
    integration = Integration.objects.get()
    assert integration.token_hash and "a-literal" not in integration.token_hash
    assert webhook(client, "a-literal-token-of-enough-length").status_code == 200
    text = export_text()
    assert "a-literal" not in text and "token: '********'" in text
    assert "0 to create, 0 to update" in import_text(tmp_path, text)  # the mask keeps the stored token
    assert "0 to create, 0 to update" in import_text(tmp_path, CONFIG.replace("env:VIGIL_TEST_AM_TOKEN", "a-literal-token-of-enough-length"))
    assert webhook(client, "a-literal-token-of-enough-length").status_code == 200


def test_config_problems_name_the_field(tmp_path):
    with pytest.raises(CommandError):
        import_text(tmp_path, CONFIG.replace("env:VIGIL_TEST_AM_TOKEN", "short"))
    errors = io.StringIO()
    path = tmp_path / "bad.yaml"
    path.write_text(CONFIG.replace("rule: prometheus", "rule: nope"))
    with pytest.raises(CommandError):
        call_command("import_config", str(path), stdout=io.StringIO(), stderr=errors)
    assert "integrations[0] (prod alertmanager).rule: no alert rule named 'nope'" in errors.getvalue()
    assert not Integration.objects.exists()


def test_the_ops_api_creates_issues_a_token_and_never_shows_it_again(client, admin_user):
    rule = AlertRule.objects.create(name="prometheus", states=["down"], group_wait_seconds=0)
    _api_token, clear = token_issue(user=admin_user, name="test", scope="write")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {clear}"}
    created = client.post("/api/v1/integrations", data={"name": "am", "kind": "alertmanager", "rule_id": rule.pk},
                          content_type="application/json", **auth)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["token_source"] == "none" and body["webhook_url"].endswith("/api/v1/integrations/alertmanager")
    issued = client.post(f"/api/v1/integrations/{body['id']}/token", **auth)
    assert issued.status_code == 201
    token = issued.json()["token"]
    assert f"credentials: {token}" in issued.json()["receiver"]
    assert webhook(client, token).status_code == 200
    shown = client.get(f"/api/v1/integrations/{body['id']}", **auth).json()
    assert shown["token_source"] == "stored" and token not in json.dumps(shown)
    # A chosen token, and an env reference, through PATCH; a short one is refused naming the field.
    refused = client.patch(f"/api/v1/integrations/{body['id']}", data={"token": "short"}, content_type="application/json", **auth)
    assert refused.status_code == 422 and "at least 20 characters" in refused.json()["fields"]["token"][0]
    changed = client.patch(f"/api/v1/integrations/{body['id']}", data={"token": "env:AM_TOKEN"}, content_type="application/json", **auth)
    assert changed.json()["token_source"] == "env" and changed.json()["token_env"] == "env:AM_TOKEN"
    assert webhook(client, token).status_code == 401
    # PagerDuty needs no rule and signs with its secret: no bearer token to issue.
    pagerduty = client.post("/api/v1/integrations", data={"name": "pd", "kind": "pagerduty", "token": "env:PD_SECRET"},
                            content_type="application/json", **auth)
    assert pagerduty.status_code == 201 and pagerduty.json()["token_source"] == "env"
    assert client.post(f"/api/v1/integrations/{pagerduty.json()['id']}/token", **auth).status_code == 422
    missing_rule = client.post("/api/v1/integrations", data={"name": "am2", "kind": "alertmanager"}, content_type="application/json", **auth)
    assert missing_rule.status_code == 422 and "rule" in missing_rule.json()["fields"]


def test_the_staff_page_shows_the_exact_receiver_and_a_new_token_once(client, admin_user, viewer, settings):
    settings.VIGIL_BASE_URL = "https://vigil.example.com"
    rule = AlertRule.objects.create(name="prometheus", states=["down"])
    integration = Integration.objects.create(name="prod alertmanager", rule=rule, token_env="env:VIGIL_AM_TOKEN")
    client.force_login(viewer)
    page = client.get("/integrations/").content.decode()
    assert "read from <code>env:VIGIL_AM_TOKEN</code>" in page
    assert "url: https://vigil.example.com/api/v1/integrations/alertmanager" in page
    assert "credentials: &lt;the value of $VIGIL_AM_TOKEN&gt;" in page
    assert client.post(f"/integrations/{integration.pk}/token/").status_code == 403  # viewers cannot issue
    client.force_login(admin_user)
    response = client.post(f"/integrations/{integration.pk}/token/")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    snippet = response.content.decode().split('<pre class="snippet"')[1].split("<code>")[1].split("</code>")[0]
    receiver = yaml.safe_load(snippet)["receivers"][0]
    [config] = receiver["webhook_configs"]
    assert config["url"] == "https://vigil.example.com/api/v1/integrations/alertmanager" and config["send_resolved"] is True
    token = config["http_config"]["authorization"]["credentials"]
    assert config["http_config"]["authorization"]["type"] == "Bearer"
    assert webhook(client, token).status_code == 200
