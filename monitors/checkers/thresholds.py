"""Thresholds on a measured number: the one judge for every check kind that measures one.

Settings (all optional, at least one of the four limits when a kind requires thresholds):
  warn_above / down_above   degraded / down when the value is above the limit
  warn_below / down_below   degraded / down when the value is below the limit
  scale, unit, label        how the value is shown: value * scale, then unit ("%", "s"), after label
  warn_for_seconds          a warning counts (degraded) only once the value has been past a limit that long
  down_for_seconds          a down limit counts (down) only once the value has been past it that long

Until a breach has held for its `for`, the check counts as ok (or degraded, while a down
breach waits and the warning's own `for` has passed) with a message like
"error rate 3% > 1% for 40s of 5m". The time is kept per monitor and region
(MonitorRegionState.breach_since); a result that is not a breach (within limits, or a failure
such as a refused connection, which is never delayed) starts it again. See `hold`.

A checker that measures a number returns `judged(value, settings, ...)`: the Result carries the
value in details["value"] (unscaled, what the limits compare with) and, when a limit was crossed,
details["breach"] ("warn" or "down"), so the engine can tell a threshold from a failure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lib.durations import format_duration
from monitors.checkers.base import DEGRADED, OK, Result

LIMITS = ("warn_above", "down_above", "warn_below", "down_below")
FOR_SETTINGS = ("warn_for_seconds", "down_for_seconds")
# A `for` of a day or more is a mistake (a breach would have to hold through a whole day of checks).
FOR_LIMIT_SECONDS = 86400
# Settings that are a warning limit on some kind (http and health_json judge latency with latency_warn_ms).
WARN_LIMITS = ("warn_above", "warn_below", "latency_warn_ms")


def validate_for(settings: dict[str, Any]) -> str | None:
    """A message naming the `for` setting and the fix, or None when both are sound."""
    for name in FOR_SETTINGS:
        value = settings.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < FOR_LIMIT_SECONDS:
            return f"{name} must be a number of seconds from 0 to below {FOR_LIMIT_SECONDS} (a day), got {value!r}"
    return None


def validate(settings: dict[str, Any], *, required: bool) -> str | None:
    """A message naming the setting and the fix, or None when the thresholds are sound."""
    for name in (*LIMITS, "scale"):
        value = settings.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{name} must be a number, got {value!r}"
    problem = validate_for(settings)
    if problem:
        return problem
    if required and not any(settings.get(name) is not None for name in LIMITS):
        return "set at least one threshold: warn_above, down_above, warn_below or down_below"
    for warn, crit, above in (("warn_above", "down_above", True), ("warn_below", "down_below", False)):
        if settings.get(warn) is not None and settings.get(crit) is not None:
            if (settings[warn] >= settings[crit]) if above else (settings[warn] <= settings[crit]):
                relation = "below" if above else "above"
                return f"{warn} ({settings[warn]}) must be {relation} {crit} ({settings[crit]})"
    return None


def show(number: float, settings: dict[str, Any]) -> str:
    return f"{number * float(settings.get('scale', 1)):.4g}{settings.get('unit', '')}"


def judge(value: float, settings: dict[str, Any]) -> tuple[str, str]:
    """(outcome, message) for a value against the thresholds: down limits first, then warnings."""
    label = str(settings.get("label", "value"))
    for name, outcome, above in (("down_above", "down", True), ("down_below", "down", False),
                                 ("warn_above", "degraded", True), ("warn_below", "degraded", False)):
        limit = settings.get(name)
        if limit is not None and ((value > limit) if above else (value < limit)):
            return outcome, f"{label} {show(value, settings)} {'>' if above else '<'} {show(limit, settings)}"
    return "ok", f"{label} {show(value, settings)}"


def judged(value: float, settings: dict[str, Any], **result: Any) -> Result:
    """The Result for a measured value: outcome and message from judge, the value and breach in details."""
    outcome, message = judge(value, settings)
    details = {**result.pop("details", {}), "value": value}
    if outcome != "ok":
        details["breach"] = "down" if outcome == "down" else "warn"
    return Result(outcome, message=message, details=details, **result)


def hold(result: Result, settings: dict[str, Any], *, at: datetime, breach_since: datetime | None,
         down_breach_since: datetime | None) -> tuple[Result, datetime | None, datetime | None]:
    """Apply warn_for_seconds / down_for_seconds to one region's result measured at `at`.

    Returns the result to count, and the new (breach_since, down_breach_since) of the region: since
    when its checks have crossed any limit, and a down limit, without a break. A result without
    details["breach"] (within limits, or a failure that is not a threshold) clears both and is
    counted as it is: only a breach waits for its `for`.
    """
    breach = result.details.get("breach") if result.details else None
    if breach not in ("warn", "down"):
        return result, None, None
    breach_since = breach_since or at
    down_breach_since = (down_breach_since or at) if breach == "down" else None
    warn_for = float(settings.get("warn_for_seconds") or 0)
    down_for = float(settings.get("down_for_seconds") or 0)
    held = (at - breach_since).total_seconds()
    if breach == "down":
        held_down = (at - down_breach_since).total_seconds() if down_breach_since else 0.0
        if held_down >= down_for:
            return result, breach_since, down_breach_since
        waiting = f"{result.message} for {format_duration(held_down)} of {format_duration(down_for)}"
        has_warning = any(settings.get(name) is not None for name in WARN_LIMITS)
        if has_warning and held >= warn_for:
            return _counted(result, DEGRADED, waiting), breach_since, down_breach_since
        return _counted(result, OK, waiting), breach_since, down_breach_since
    if held >= warn_for:
        return result, breach_since, None
    return _counted(result, OK, f"{result.message} for {format_duration(held)} of {format_duration(warn_for)}"), breach_since, None


def _counted(result: Result, outcome: str, message: str) -> Result:
    """The result as counted while its breach waits: same measurement, the waiting outcome;
    details["pending"] keeps which breach waits (and "breach" goes, so it is not held again)."""
    details = {key: value for key, value in result.details.items() if key != "breach"}
    details["pending"] = result.details["breach"]
    return Result(outcome, latency_ms=result.latency_ms, status_code=result.status_code, message=message, details=details)

