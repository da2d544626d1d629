"""Schemathesis against the ops API's own OpenAPI document: every operation is called with
generated input (valid and invalid, unicode, huge numbers) by an admin's write token, and
must never answer 500, nor anything the document does not declare."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.tokens import token_issue
from portal.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
# Not positive_data_acceptance: input the document allows is still refused (422, naming the field) for
# rules a schema cannot state: ids that must exist, an end after its start, a channel kind's config,
# control characters, an alert that is already resolved.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance, response_schema_conformance,
          negative_data_rejection]


def test_the_openapi_document_is_valid():
    from openapi_spec_validator import validate

    validate(schema.raw_schema)


def test_the_document_states_bounds_and_nullability_as_json_schema():
    """pydantic writes "ge"/"le" (which JSON Schema ignores) when a validator comes before the bounds;
    and a PATCH field offers null only where the field may be null."""
    stray = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            stray.extend(f"{where}.{key}" for key in ("ge", "le", "gt", "lt") if key in node)
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}[{index}]")

    walk(schema.raw_schema, "")
    assert stray == []
    patch = schema.raw_schema["components"]["schemas"]["ComponentPatch"]["properties"]
    assert patch["is_public"] == {"type": "boolean", "title": "Is Public", "description": patch["is_public"]["description"]}
    assert {"type": "null"} in patch["group_id"]["anyOf"]  # a component may leave its group


@pytest.fixture
def in_process_requests():
    """Schemathesis calls the WSGI app directly; like Django's test client, keep the test's
    database connection open across those requests (Django closes it when a request ends)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def make_one_of_each() -> dict[str, int]:
    """One row behind every path of the API, so that reads, writes and deletes get past 404."""
    from datetime import timedelta

    from django.utils import timezone

    from alerting.models import Alert, AlertRule, Channel, Silence
    from incidents import services as incident_services
    from incidents.models import Component, ComponentGroup, Maintenance
    from monitors.models import Monitor
    from slo.models import SLO
    from statuspage.models import StatusPage

    now = timezone.now()
    group = ComponentGroup.objects.create(name="Core")
    component = Component.objects.create(name="API", group=group)
    monitor = Monitor.objects.create(name="api", kind="tcp", target="127.0.0.1:1", component=component)
    incident = incident_services.incident_open(title="Errors", impact="minor", message="Looking.", components={component.pk: "degraded_performance"},
                                               by=None, now=now)
    rule = AlertRule.objects.create(name="down", states=["down"])
    return {
        "/api/v1/monitors/": monitor.pk,
        "/api/v1/component-groups/": group.pk,
        "/api/v1/components/": component.pk,
        "/api/v1/incidents/": incident.pk,
        "/api/v1/maintenance/": Maintenance.objects.create(title="Upgrade", starts_at=now + timedelta(days=1),
                                                           ends_at=now + timedelta(days=1, hours=1)).pk,
        "/api/v1/status-pages/": StatusPage.objects.update_or_create(slug="public", defaults={"title": "Status", "is_default": True})[0].pk,
        "/api/v1/channels/": Channel.objects.create(name="ops", kind="email", config={"to": ["ops@example.com"]}).pk,
        "/api/v1/alert-rules/": rule.pk,
        "/api/v1/silences/": Silence.objects.create(matchers=[{"name": "monitor", "value": "api"}], starts_at=now,
                                                    ends_at=now + timedelta(hours=1), comment="deploy").pk,
        "/api/v1/alerts/": Alert.objects.create(rule=rule, dedup_key="k", group_key="all", status="firing", severity="critical",
                                                summary="api is down", monitor=monitor, first_seen=now, last_seen=now, fired_at=now).pk,
        "/api/v1/slos/": SLO.objects.create(name="API availability", objective=99.9, window="rolling_30d", component=component).pk,
    }


@pytest.fixture
def existing(admin_user, in_process_requests) -> dict[str, int]:
    return make_one_of_each()


@pytest.fixture
def token_header(admin_user, existing) -> dict[str, str]:
    _token, clear = token_issue(user=admin_user, name="schemathesis", scope="write")
    return {"Authorization": f"Bearer {clear}"}


def aim_at_existing_rows(case, existing: dict[str, int]) -> None:
    """Every other case names a row that exists (generated ids nearly always miss: 404)."""
    aim_at_existing_rows.calls = getattr(aim_at_existing_rows, "calls", 0) + 1
    if not case.path_parameters or aim_at_existing_rows.calls % 2:
        return
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH):
        return  # an invalid id stays invalid: the API must refuse it
    for prefix, pk in existing.items():
        if case.path.startswith(prefix):
            for name in case.path_parameters:
                case.path_parameters[name] = pk


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_500_or_breaks_its_schema(case, token_header, existing):
    """Every operation, DELETE included, against rows that exist and rows that do not."""
    aim_at_existing_rows(case, existing)
    case.call_and_validate(headers=token_header, checks=CHECKS)
