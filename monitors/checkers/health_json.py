"""A health document as the guides write them: {"status": ..., "checks" | "services": {name: {"status": ...}}}.

The document's status and each sub-check's status map to up, degraded or down through a table:

  healthy, ok, pass, passing, up, connected, ready   -> up
  degraded, warn, warning, limited                    -> degraded
  anything else (unhealthy, down, error, fail, ...)   -> down

settings.status_map ({"maintenance": "degraded", ...}, values up | degraded | down) adds to and
overrides that table per monitor (compared without case). Sub-checks are read from "checks",
else "services", or from settings.checks_key; a sub-check is {"status": ...} or a bare status
string; one whose status is not a string (e.g. {"openai": false}) is listed, not judged. The
monitor is as bad as the worst of the document's status and its sub-checks, and the message
names each failing sub-check ("degraded: database (error), cache (limited)").

settings.value_path ("$.checks.database.latency_ms", "$.pool.in_use") picks a number from the
document: it is stored as the check's value and judged against the thresholds of
monitors.checkers.thresholds (warn_above -> degraded, down_above -> down, ..., with
warn_for_seconds / down_for_seconds); a document without that number is down.

Takes the http kind's settings too (headers, auth, latency thresholds, verify_tls);
expected_status defaults to 200 and 503, because a health endpoint answers 503 with a
document that says why.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lib.json_condition import ConditionError
from lib.json_condition import parse as parse_path
from lib.json_condition import resolve as resolve_path
from monitors.checkers import http, thresholds
from monitors.checkers.base import CheckSession, Result, down

if TYPE_CHECKING:
    from monitors.models import Monitor

UP, DEGRADED, DOWN = "up", "degraded", "down"
DEFAULT_STATUS_MAP = {
    **dict.fromkeys(("healthy", "ok", "pass", "passing", "up", "connected", "ready"), UP),
    **dict.fromkeys(("degraded", "warn", "warning", "limited"), DEGRADED),
}
CHECKS_KEYS = ("checks", "services")
RANK = {UP: 0, DEGRADED: 1, DOWN: 2}
OUTCOME = {UP: "ok", DEGRADED: "degraded", DOWN: "down"}


def validate(target: str, settings: dict[str, Any]) -> dict[str, str]:
    errors = http.validate(target, settings)
    status_map = settings.get("status_map")
    if status_map is not None:
        if not isinstance(status_map, dict):
            errors["settings"] = 'status_map must be an object like {"maintenance": "degraded"}'
        else:
            for status, meaning in status_map.items():
                if meaning not in RANK:
                    errors["settings"] = f"status_map: {status!r} maps to {meaning!r}; use up, degraded or down"
    checks_key = settings.get("checks_key")
    if checks_key is not None and (not isinstance(checks_key, str) or not checks_key.strip()):
        errors["settings"] = f'checks_key must be the name of the document\'s sub-check object, e.g. "components", got {checks_key!r}'
    value_path = settings.get("value_path")
    if value_path is not None:
        try:
            path = parse_path(str(value_path))
        except ConditionError as exc:
            errors["settings"] = f"value_path: {exc}"
        else:
            if path.operator is not None:
                errors["settings"] = f"value_path must be a path to a number, like $.pool.in_use, not a condition: {value_path!r}"
    problem = thresholds.validate(settings, required=False)
    if problem:
        errors["settings"] = problem
    return errors


def status_table(settings: dict[str, Any]) -> dict[str, str]:
    """The monitor's table: the default, with settings.status_map added and overriding."""
    own = settings.get("status_map") or {}
    return {**DEFAULT_STATUS_MAP, **{str(status).lower(): str(meaning) for status, meaning in own.items()}}


def meaning(status: Any, table: dict[str, str]) -> str:
    return table.get(str(status).strip().lower(), DOWN)


def sub_checks(document: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    key = settings.get("checks_key")
    found = document.get(key) if key else next((document[k] for k in CHECKS_KEYS if isinstance(document.get(k), dict)), None)
    return found if isinstance(found, dict) else {}


def failing(checks: dict[str, Any], table: dict[str, str]) -> list[tuple[str, str, str]]:
    """(name, status as written, meaning) of every sub-check that is not up, in name order."""
    names = []
    for name, detail in checks.items():
        status = detail.get("status") if isinstance(detail, dict) else detail
        if not isinstance(status, str):
            continue  # e.g. {"configured": 0, "status": {"openai": false}}: nothing to judge
        judged = meaning(status, table)
        if judged != UP:
            names.append((str(name), status, judged))
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
    table = status_table(settings)
    status = str(document["status"])
    bad = failing(sub_checks(document, settings), table)
    worst = max([meaning(status, table), *(judged for _n, _s, judged in bad)], key=RANK.__getitem__)
    details: dict[str, Any] = {"failing": [name for name, _s, _j in bad]}
    value_result = _judge_value(document, settings, elapsed, code, details) if settings.get("value_path") else None
    if worst != UP:
        named = ", ".join(f"{name} ({written})" for name, written, _j in bad)
        message = f"{status.lower()}: {named}" if named else status.lower()
        if value_result is not None and value_result.details.get("value") is not None:
            message += f"; {value_result.message}"
            details["value"] = value_result.details["value"]
        return Result(OUTCOME[worst], latency_ms=elapsed, status_code=code, message=message, details=details)
    if value_result is not None and value_result.outcome != "ok":
        return value_result
    slow = http.slow_result(settings, elapsed, code)
    if slow is not None:
        return slow
    if value_result is not None:
        return value_result
    return Result("ok", latency_ms=elapsed, status_code=code, message=f"{status.lower()} (HTTP {code})", details=details)


def _judge_value(document: dict[str, Any], settings: dict[str, Any], elapsed: int, code: int, details: dict[str, Any]) -> Result:
    """The number at settings.value_path against the thresholds; down when the document lacks it."""
    path = str(settings["value_path"])
    value = resolve_path(document, parse_path(path).steps)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        found = "nothing" if value is None or not isinstance(value, (str, int, float, list, dict)) else repr(value)[:40]
        return down(f"{path}: expected a number, found {found}", latency_ms=elapsed, status_code=code, details=details)
    shown = {"label": path.removeprefix("$."), **settings}
    return thresholds.judged(float(value), shown, latency_ms=elapsed, status_code=code, details=details)
