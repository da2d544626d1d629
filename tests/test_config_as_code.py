"""Configuration as code: export -> import into an empty database -> export is the same YAML;
dry runs change nothing; bad files name the line and the field; the JSON Schema is current."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerting.models import AlertRule, Channel, EscalationPolicy, Integration, OnCallSchedule
from configfile import sync
from configfile.schema import json_schema
from configfile.source import ConfigError, parse
from core.models import AuditLog
from incidents.models import Component, ComponentGroup
from monitors.models import Monitor
from slo.models import SLO
from statuspage.models import StatusPage

pytestmark = pytest.mark.django_db
DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLE = DOCS / "examples" / "vigil.yaml"


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def export_text() -> str:
    return run("export_config")[0]


def wipe() -> None:
    for model in (SLO, StatusPage, Integration, AlertRule, EscalationPolicy, Channel, Monitor, Component, ComponentGroup):
        model.objects.all().delete()


def import_file(tmp_path, text: str, *flags: str) -> str:
    path = tmp_path / "vigil.yaml"
    path.write_text(text)
    return run("import_config", str(path), *flags)[0]


def test_export_import_export_gives_the_same_yaml(tmp_path, admin_user):
    OnCallSchedule.objects.create(name="Primary", rotation_start="2026-01-05")
    import_file(tmp_path, EXAMPLE.read_text())
    # Things the example does not set, through the same file.
    import_file(tmp_path, EXAMPLE.read_text().replace("{channels: [pagerduty], wait: 15m}",
                                                       "{channels: [pagerduty], schedule: Primary, wait: 15m}")
                + f"  - {{name: Owned, objective: 99.5, window: 7d, monitors: [website], owner: {admin_user.username}}}\n")
    first = export_text()
    assert "schedule: Primary" in first and "owner: ada-admin" in first and "env:SLACK_WEBHOOK_URL" in first
    assert "for: 2m" in first and "max_latency: 1s" in first and "period: 1d" in first

    wipe()
    assert not Monitor.objects.exists()
    import_file(tmp_path, first)
    assert export_text() == first
    assert Monitor.objects.get(name="website").settings["latency_warn_ms"] == 800
    assert Channel.objects.get(name="ops-slack").config == {"url": "env:SLACK_WEBHOOK_URL"}
    assert list(SLO.objects.get(name="API availability").monitors.values_list("name", flat=True)) == ["api-health"]
    # And importing the same file again plans nothing.
    assert "0 to create, 0 to update, 0 to delete" in import_file(tmp_path, first)


def test_a_dry_run_prints_the_plan_and_changes_nothing(tmp_path):
    import_file(tmp_path, EXAMPLE.read_text())
    before = export_text()
    audit_rows = AuditLog.objects.count()
    changed = EXAMPLE.read_text().replace("interval: 60s", "interval: 30s").replace("  - {name: Billing, public: false}\n", "")
    changed += "  - {name: New SLO, objective: 99, monitors: [website]}\n"
    output = import_file(tmp_path, changed, "--dry-run", "--prune")
    assert "~ api-health  (interval)" in output
    assert "+ New SLO" in output and "- Billing" in output
    assert "Plan: 1 to create, 1 to update, 1 to delete" in output and "Dry run: nothing was changed." in output
    assert export_text() == before and AuditLog.objects.count() == audit_rows


def test_prune_deletes_what_the_file_does_not_name_and_without_it_keeps_it(tmp_path):
    import_file(tmp_path, EXAMPLE.read_text())
    smaller = "components: [{name: API, group: Core}]\n"
    output = import_file(tmp_path, smaller)
    assert "not in the file, kept" in output and Component.objects.filter(name="Website").exists()
    import_file(tmp_path, smaller, "--prune")
    assert list(Component.objects.values_list("name", flat=True)) == ["API"]
    assert not Monitor.objects.exists() and not Channel.objects.exists()
    assert list(ComponentGroup.objects.values_list("name", flat=True)) == ["Core"]  # named by API, so kept


@pytest.mark.parametrize(("text", "expected"), [
    ("monitors:\n  - name: x\n    kind: http\n    interval: often\n", "vigil.yaml:4: monitors[0] (x).interval: 'often' is not a duration"),
    ("monitors:\n  - name: x\n    kind: tcp\n    colour: red\n", "vigil.yaml:4: monitors[0] (x).colour: unknown field"),
    ("components:\n  - {name: A}\n  - {name: A}\n", "vigil.yaml:3: components[1] (A).name: 'A' is also at components[0]"),
    ("monitors:\n  - {name: y, kind: tcp, target: 'h:1', component: Nope}\n", "vigil.yaml:2: monitors[0] (y).component: no component named 'Nope'"),
    ("monitors:\n  - name: y\n    kind: tcp\n    target: 'h:1'\n    interval: 30s\n    timeout: 90s\n",
     "vigil.yaml:6: monitors[0] (y).timeout: monitor 'y': timeout must be below interval"),
    ("slos:\n  - name: s\n    objective: 120\n    monitors: [a]\n", "vigil.yaml:3: slos[0] (s).objective:"),
    ("channels:\n  - {name: c, kind: slack, url: '********'}\n", "vigil.yaml:2: channels[0] (c).url: the value is masked"),
    ("channels:\n  - {name: c, kind: pagerduty}\n", "vigil.yaml:2: channels[0] (c).config: A PagerDuty"),
    ("monitors: [\n  {name: x\n", "vigil.yaml:3: not valid YAML"),
    ("- just a list\n", "vigil.yaml:1: the file must be a mapping"),
])
def test_invalid_files_name_the_line_and_the_field(tmp_path, text, expected):
    path = tmp_path / "vigil.yaml"
    path.write_text(text)
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was changed"):
        call_command("import_config", str(path), stdout=io.StringIO(), stderr=err)
    assert any(line.endswith(expected) or expected in line for line in err.getvalue().splitlines()), err.getvalue()
    assert not Monitor.objects.exists() and not Channel.objects.exists()


def test_one_bad_item_applies_nothing(tmp_path):
    text = "components: [{name: API}]\nmonitors:\n  - {name: ok, kind: tcp, target: 'h:1'}\n  - {name: bad, kind: tcp, target: 'h:1', component: Nope}\n"
    with pytest.raises(CommandError):
        import_file(tmp_path, text)
    assert not Component.objects.filter(name="API").exists() and not Monitor.objects.exists()


def test_secrets_stored_in_the_database_are_exported_masked_and_kept_on_import(tmp_path):
    import_file(tmp_path, "channels: [{name: hook, kind: webhook, url: 'https://hooks.example/abc', secret: s3cret}]\n")
    text = export_text()
    assert "s3cret" not in text and "hooks.example/abc" not in text and "'********'" in text
    assert "0 to create, 0 to update" in import_file(tmp_path, text)
    assert Channel.objects.get().config["secret"] == "s3cret"
    import_file(tmp_path, "channels: [{name: hook, kind: webhook, url: 'https://hooks.example/abc', secret: rotated}]\n")
    assert Channel.objects.get().config["secret"] == "rotated"


def test_the_published_json_schema_is_current_and_checks_files():
    published = json.loads((DOCS / "vigil-config.schema.json").read_text())
    assert published == json_schema(), "run: manage.py export_config --schema docs/vigil-config.schema.json"
    jsonschema.Draft202012Validator.check_schema(published)
    validator = jsonschema.Draft202012Validator(published)
    assert not list(validator.iter_errors(yaml.safe_load(EXAMPLE.read_text())))
    wrong = {"monitors": [{"name": "x", "kind": "telnet", "interval": "often", "colour": "red"}]}
    messages = " ".join(error.message for error in validator.iter_errors(wrong))
    assert "telnet" in messages and "colour" in messages and "often" in messages


def test_an_export_validates_against_the_schema(tmp_path):
    import_file(tmp_path, EXAMPLE.read_text())
    jsonschema.Draft202012Validator(json_schema()).validate(yaml.safe_load(export_text()))


values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                      lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
                      max_leaves=8)
sections = st.sampled_from(["components", "monitors", "channels", "status_pages", "alert_rules", "slos", "escalation_policies", "other"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.dictionaries(sections, st.lists(st.dictionaries(st.sampled_from(["name", "kind", "url", "target", "interval", "objective",
                                                                           "monitors", "components", "slug", "title"]), values,
                                                          max_size=6), max_size=3), max_size=3))
def test_the_importer_answers_any_input_with_problems_never_a_crash(document):
    try:
        config, source = parse(yaml.safe_dump(document), "fuzz.yaml")
        sync.apply(config, source, prune=False, dry_run=True)
    except ConfigError as error:
        assert error.problems and all(problem.startswith("fuzz.yaml:") for problem in error.problems)
