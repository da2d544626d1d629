"""A health document ({status: healthy|degraded|unhealthy, checks: {name: {status}}}).

Maps degraded sub-checks to a degraded monitor (with their names as the reason)
and unhealthy ones to down. Takes the http kind's settings too (headers, auth,
latency thresholds, verify_tls); expected_status defaults to 200 and 503, because
a health endpoint answers 503 with a document that says why.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitors.checkers import http
from monitors.checkers.base import CheckSession, Result, degraded, down, ok

if TYPE_CHECKING:
    from monitors.models import Monitor

GOOD = {"healthy", "ok", "pass", "up"}
WARN = {"degraded", "warn", "warning"}


def validate(target: str, settings: dict[str, Any]) -> dict[str, str]:
    return http.validate(target, settings)


def _failing(checks: Any, statuses: set[str]) -> list[str]:
    names = []
    if isinstance(checks, dict):
        for name, detail in checks.items():
            status = detail.get("status") if isinstance(detail, dict) else detail
            if str(status).lower() in statuses:
                names.append(str(name))
    return sorted(names)


def check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    settings = monitor.settings or {}
    failure, response, body, _truncated, elapsed = http.fetch(monitor, session, needs_body=True)
    if failure is not None:
        return failure
    assert response is not None
    code = response.status_code
    ranges = http.parse_status_ranges(settings.get("expected_status", [200, 503]))
    if not any(low <= code <= high for low, high in ranges):
        return down(f"HTTP {code} from the health endpoint", latency_ms=elapsed, status_code=code)
    try:
        document = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        return down(f"HTTP {code}: the body is not a JSON health document", latency_ms=elapsed, status_code=code)
    if not isinstance(document, dict) or "status" not in document:
        return down("the health document has no status field", latency_ms=elapsed, status_code=code)
    status = str(document["status"]).lower()
    checks = document.get("checks", {})
    if status in GOOD:
        slow = http.latency_verdict(settings, elapsed)
        if slow:
            return Result(slow[0], latency_ms=elapsed, status_code=code, message=slow[1])
        return ok(f"healthy (HTTP {code})", latency_ms=elapsed, status_code=code)
    if status in WARN:
        names = _failing(checks, WARN | {"unhealthy", "fail", "down", "error"})
        reason = f"degraded: {', '.join(names)}" if names else "degraded"
        return degraded(reason, latency_ms=elapsed, status_code=code, details={"failing": names})
    names = _failing(checks, {"unhealthy", "fail", "down", "error"})
    reason = f"{status}: {', '.join(names)}" if names else status
    return down(reason, latency_ms=elapsed, status_code=code, details={"failing": names})
