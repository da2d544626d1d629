"""SLIs are shown in percent, like the objectives they are read against (99.912%, not 0.99912)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(ratio: float | None, digits: int = 3) -> str:
    """0.99912 -> '99.912%'; None -> '-'."""
    if ratio is None:
        return "-"
    return f"{100.0 * float(ratio):.{int(digits)}f}%"
