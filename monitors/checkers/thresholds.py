"""Thresholds on a measured number: the one judge for every check kind that measures one.

Settings (all optional, at least one of the four limits when a kind requires thresholds):
  warn_above / down_above   degraded / down when the value is above the limit
  warn_below / down_below   degraded / down when the value is below the limit
  scale, unit, label        how the value is shown: value * scale, then unit ("%", "s"), after label

A checker that measures a number returns `judged(value, settings, ...)`: the Result carries the
value in details["value"] (unscaled, what the limits compare with) and, when a limit was crossed,
details["breach"] ("warn" or "down"), so the engine can tell a threshold from a failure.
"""

from __future__ import annotations

from typing import Any

from monitors.checkers.base import Result

LIMITS = ("warn_above", "down_above", "warn_below", "down_below")


def validate(settings: dict[str, Any], *, required: bool) -> str | None:
    """A message naming the setting and the fix, or None when the thresholds are sound."""
    for name in (*LIMITS, "scale"):
        value = settings.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{name} must be a number, got {value!r}"
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
