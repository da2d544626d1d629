"""Human durations: "90s", "5m", "1h30m", "2d" <-> seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration like "30s", "5m", "1h30m"; a bare number is seconds."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration; write it like 30s, 5m or 1h")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError(f"duration must not be negative, got {text}")
        return float(text)
    cleaned = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        return float(cleaned)
    position, total = 0, 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(cleaned) or not cleaned:
        raise ValueError(f"{text!r} is not a duration; write it like 30s, 5m, 1h30m or 2d")
    return total


def format_duration(seconds: float) -> str:
    """Compact form: 0s, 45s, 5m, 1h30m, 2d3h (whole seconds)."""
    remaining = round(seconds)
    if remaining <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])
