"""Health documents as the ops guides write them (../shared/guides): statuses map through a per-monitor
table, sub-checks come from "checks", "services" or a configured key, each failing one is named,
and a numeric field is judged against warning and critical thresholds. Served by a real local server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from monitors import services
from monitors.checkers import health_json
from monitors.checkers.base import CheckSession
from monitors.models import Monitor
from tests.servers import HTTPServer, respond

NOW = datetime(2026, 11, 20, tzinfo=UTC)

# The Xionimus guide's /api/health, "limited": the application works, AI providers are not configured.
XIONIMUS_LIMITED = {
    "status": "limited", "version": "2.0.0", "platform": "Xionimus AI", "uptime_seconds": 5,
    "services": {
        "database": {"status": "connected", "type": "SQLite", "error": None},
        "ai_providers": {"configured": 0, "total": 3, "status": {"openai": False, "anthropic": False, "perplexity": False}},
    },
    "system": {"memory_used_percent": 26.9, "memory_available_mb": 46891.06},
}
# The DEIA guide's /health/db.
DEIA_DB = {"status": "connected", "database": "deia_prod", "latency_ms": 8, "tables_accessible": 12}
# The same Xionimus document on a bad day: degraded, its database in error.
XIONIMUS_DB_ERROR = {**XIONIMUS_LIMITED, "status": "degraded",
                     "services": {**XIONIMUS_LIMITED["services"], "database": {"status": "error", "type": "SQLite", "error": "locked"}}}


class Documents:
    def __init__(self) -> None:
        self.served: dict[str, tuple[int, dict]] = {}
        self.server = HTTPServer({path: self.route(path) for path in ("/api/health", "/health/db", "/health")})

    def route(self, path: str):
        def handler(h) -> None:
            status, document = self.served[path]
            respond(h, status, json.dumps(document).encode(), {"Content-Type": "application/json"})
        return handler


@pytest.fixture
def documents():
    instance = Documents()
    yield instance
    instance.server.close()


def check(documents: Documents, path: str, document: dict, status: int = 200, **settings):
    documents.served[path] = (status, document)
    monitor = Monitor(pk=1, name="health", kind="health_json", target=f"{documents.server.url}{path}", timeout_seconds=3,
                      interval_seconds=60, settings=settings)
    assert health_json.validate(monitor.target, settings) == {}
    return health_json.check(monitor, CheckSession(), NOW)


def test_a_limited_document_is_degraded_not_down(documents):
    result = check(documents, "/api/health", XIONIMUS_LIMITED)
    assert result.outcome == "degraded" and result.message == "limited"


def test_connected_is_up(documents):
    result = check(documents, "/health/db", DEIA_DB)
    assert result.outcome == "ok" and result.message == "connected (HTTP 200)"


def test_sub_checks_under_services_are_read_and_each_failing_one_is_named(documents):
    result = check(documents, "/api/health", XIONIMUS_DB_ERROR)
    assert result.outcome == "down"  # the database sub-check's "error" is down, worse than the document's "degraded"
    assert result.message == "degraded: database (error)" and result.details["failing"] == ["database"]


def test_a_healthy_document_with_a_failing_sub_check_is_as_bad_as_that_sub_check(documents):
    document = {"status": "healthy", "checks": {"database": {"status": "healthy"}, "cache": {"status": "warn"},
                                                "queue": "down"}}
    result = check(documents, "/health", document)
    assert result.outcome == "down" and result.message == "healthy: cache (warn), queue (down)"


def test_the_monitors_status_map_overrides_the_default_table(documents):
    document = {"status": "maintenance", "components": {"search": {"status": "limited"}, "billing": {"status": "ok"}}}
    assert check(documents, "/health", document).outcome == "down"  # unknown statuses are down
    result = check(documents, "/health", document, status_map={"maintenance": "up", "limited": "up"}, checks_key="components")
    assert result.outcome == "ok"
    result = check(documents, "/health", document, status_map={"maintenance": "up"}, checks_key="components")
    assert result.outcome == "degraded" and result.message == "maintenance: search (limited)"


def test_a_numeric_field_is_a_warning_then_critical(documents):
    document = {"status": "healthy", "checks": {"database": {"status": "healthy", "latency_ms": 80}}}
    limits = {"value_path": "$.checks.database.latency_ms", "warn_above": 100, "down_above": 500, "unit": " ms"}
    assert check(documents, "/health", document, **limits).outcome == "ok"
    document["checks"]["database"]["latency_ms"] = 250
    warned = check(documents, "/health", document, **limits)
    assert (warned.outcome, warned.message, warned.details["value"], warned.details["breach"]) == (
        "degraded", "checks.database.latency_ms 250 ms > 100 ms", 250.0, "warn")
    document["checks"]["database"]["latency_ms"] = 900
    assert check(documents, "/health", document, **limits).outcome == "down"


def test_a_document_missing_its_numeric_field_is_down_and_says_what_it_found(documents):
    result = check(documents, "/health/db", DEIA_DB, value_path="$.pool.in_use", warn_above=16)
    assert result.outcome == "down" and result.message == "$.pool.in_use: expected a number, found nothing"
    assert "breach" not in result.details  # a missing number is a failure, never delayed by a `for`


def test_a_503_document_says_why(documents):
    result = check(documents, "/api/health", {"status": "unhealthy", "services": {"database": {"status": "error"}}}, status=503)
    assert result.outcome == "down" and result.message == "unhealthy: database (error)" and result.status_code == 503


@pytest.mark.django_db
@pytest.mark.parametrize(("settings", "words"), [
    ({"status_map": {"limited": "fine"}}, "status_map: 'limited' maps to 'fine'; use up, degraded or down"),
    ({"status_map": ["limited"]}, "status_map must be an object"),
    ({"checks_key": ""}, "checks_key must be the name"),
    ({"value_path": "pool.in_use"}, "value_path: condition 'pool.in_use' must start with $"),
    ({"value_path": "$.pool.in_use > 3"}, "value_path must be a path to a number"),
    ({"value_path": "$.pool.in_use", "warn_above": "16"}, "warn_above must be a number"),
    ({"value_path": "$.pool.in_use", "warn_above": 19, "down_above": 16}, "warn_above (19) must be below down_above (16)"),
])
def test_bad_settings_name_the_setting_and_the_fix(settings, words):
    with pytest.raises(ValidationError) as raised:
        services.monitor_upsert(changes={"name": "bad health", "kind": "health_json", "target": "http://127.0.0.1:9/health",
                                         "settings": settings, "interval_seconds": 60, "timeout_seconds": 5}, now=NOW)
    assert words in " ".join(raised.value.messages)
