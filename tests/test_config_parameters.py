"""Parameters in a config file: ${NAME} placeholders declared under parameters:, values from
import_config --set NAME=value, defaults that name other parameters, and clear errors naming a
missing or unknown parameter."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from alerting.models import AlertRule, Channel
from configfile.source import ConfigError, parse
from monitors.models import Monitor

pytestmark = pytest.mark.django_db

PACK = """\
version: 1
parameters:
  APP_URL: {description: "the application's base URL", example: "https://api.example.com"}
  HEALTH_URL: {default: "${APP_URL}/health"}
  POOL_SIZE: {default: "20"}
  CHANNEL: {default: ""}
monitors:
  - name: api health
    kind: http
    url: "${HEALTH_URL}"
  - name: api pool
    kind: postgres
    target: postgres://vigil@db.internal:5432/app
    settings: {preset: pool_use, pool_size: "${POOL_SIZE}", label: "pool of ${POOL_SIZE}"}
alert_rules:
  - {name: api down, monitors: [api health], channels: ["${CHANNEL}"], runbook_text: "See ${APP_URL}/runbook"}
"""


def write(tmp_path, text: str = PACK):
    path = tmp_path / "pack.yaml"
    path.write_text(text)
    return str(path)


def test_values_fill_the_placeholders_and_defaults_name_other_parameters():
    config, _source = parse(PACK, "pack.yaml", parameters={"APP_URL": "https://api.example.com"})
    health, pool = config.monitors
    assert health.url == "https://api.example.com/health"
    assert pool.settings["pool_size"] == 20 and pool.settings["label"] == "pool of 20"  # a whole placeholder that is a number is one
    assert config.alert_rules[0].channels == []  # an empty value leaves the list item out
    assert config.alert_rules[0].runbook_text == "See https://api.example.com/runbook"


def test_a_missing_parameter_is_named_with_how_to_give_it():
    with pytest.raises(ConfigError) as refused:
        parse(PACK, "pack.yaml")
    assert refused.value.problems == [
        "pack.yaml:3: parameters.APP_URL: no value for parameter APP_URL: pass --set APP_URL=https://api.example.com "
        "(the application's base URL)"]


def test_an_unknown_parameter_and_an_undeclared_placeholder_are_refused():
    with pytest.raises(ConfigError) as unknown:
        parse(PACK, "pack.yaml", parameters={"APP_URL": "https://a.example", "APP_ULR": "x"})
    assert unknown.value.problems == [
        "pack.yaml: --set APP_ULR: the file has no parameter APP_ULR (it declares: APP_URL, HEALTH_URL, POOL_SIZE, CHANNEL)"]
    with pytest.raises(ConfigError) as undeclared:
        parse(PACK.replace('"${HEALTH_URL}"', '"${HEALTH}"'), "pack.yaml", parameters={"APP_URL": "https://a.example"})
    assert undeclared.value.problems == [
        "pack.yaml:10: monitors[0] (api health).url: ${HEALTH} is not a parameter of this file; declare it under parameters: "
        "or write the value"]


def test_a_file_without_parameters_is_read_as_written():
    config, _source = parse("monitors:\n  - {name: odd, kind: http, url: 'https://a.example/${not_a_parameter}'}\n", "plain.yaml")
    assert config.monitors[0].url == "https://a.example/${not_a_parameter}"
    with pytest.raises(ConfigError) as refused:
        parse("monitors: []\n", "plain.yaml", parameters={"APP_URL": "x"})
    assert refused.value.problems == ["plain.yaml: --set APP_URL: the file has no parameter APP_URL (it declares: none)"]


def test_import_config_set_applies_and_dry_run_prints_the_plan(tmp_path, capsys):
    Channel.objects.create(name="On-call", kind="email", config={"to": ["ops@example.com"]})
    path = write(tmp_path)
    call_command("import_config", path, "--dry-run", "--set", "APP_URL=https://api.example.com", "--set", "CHANNEL=On-call")
    out = capsys.readouterr().out
    assert "+ api health" in out and "+ api down" in out and "Dry run: nothing was changed." in out
    assert not Monitor.objects.exists()
    call_command("import_config", path, "--set", "APP_URL=https://api.example.com", "--set", "CHANNEL=On-call")
    assert Monitor.objects.get(name="api health").target == "https://api.example.com/health"
    assert Monitor.objects.get(name="api pool").settings["pool_size"] == 20
    assert list(AlertRule.objects.get(name="api down").channels.values_list("name", flat=True)) == ["On-call"]


def test_import_config_names_the_missing_parameter_and_changes_nothing(tmp_path, capsys):
    with pytest.raises(CommandError, match=r"1 problem\(s\) in .*pack.yaml; nothing was changed"):
        call_command("import_config", write(tmp_path))
    assert "no value for parameter APP_URL: pass --set APP_URL=https://api.example.com" in capsys.readouterr().err
    with pytest.raises(CommandError, match="--set 'APP_URL': write NAME=VALUE"):
        call_command("import_config", write(tmp_path), "--set", "APP_URL")
    assert not Monitor.objects.exists()
