"""Schemathesis against the ops API's own OpenAPI document: every operation is called with
generated input (valid and invalid, unicode, huge numbers) by an admin's write token, and
must never answer 500, nor anything the document does not declare."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from api.tokens import token_issue
from portal.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_openapi_document_is_valid():
    from openapi_spec_validator import validate

    validate(schema.raw_schema)


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


@pytest.fixture
def token_header(admin_user, in_process_requests) -> dict[str, str]:
    from incidents.models import Component
    from monitors.models import Monitor

    # Something to find, so that reads and writes get past 404 some of the time.
    component = Component.objects.create(name="API")
    Monitor.objects.create(name="api", kind="tcp", target="127.0.0.1:1", component=component)
    _token, clear = token_issue(user=admin_user, name="schemathesis", scope="write")
    return {"Authorization": f"Bearer {clear}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_500_or_breaks_its_schema(case, token_header):
    case.call_and_validate(headers=token_header, checks=CHECKS)
