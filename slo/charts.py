"""Server-side SVG charts (no JavaScript, no CSS inline styles: attributes only)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from html import escape

from lib.charts import nice_ceiling


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 28, label: str) -> str:
    if len(values) < 2:
        return f'<svg class="sparkline" width="{width}" height="{height}" role="img" aria-label="{escape(label)}: not enough data yet"></svg>'
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    points = " ".join(f"{i * (width - 2) / (len(values) - 1) + 1:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}"
                      for i, v in enumerate(values))
    return (f'<svg class="sparkline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(label)}"><polyline fill="none" stroke="#0a58ca" stroke-width="1.5" points="{points}"/></svg>')


def budget_bar(remaining_ratio: float, *, width: int = 160, height: int = 14) -> str:
    ratio = max(0.0, min(1.0, remaining_ratio))
    colour = "#1a7f37" if ratio >= 0.5 else "#9a6700" if ratio >= 0.25 else "#cf222e"
    return (f'<svg class="budget-bar" width="{width}" height="{height}" role="img" aria-label="{remaining_ratio:.0%} of the error budget left">'
            f'<rect width="{width}" height="{height}" rx="3" fill="#d0d7de"/>'
            f'<rect width="{ratio * width:.1f}" height="{height}" rx="3" fill="{colour}"/></svg>')


def _budget_ticks(low: float) -> list[float]:
    """Axis ticks: 100%, 50%, 0%, and below zero (an overspent budget) round steps down to `low`."""
    if low >= 0:
        return [1.0, 0.5, 0.0]
    step = nice_ceiling(-low / 4)
    ticks, value = [1.0, 0.0], -step
    while value >= low - 1e-9:
        ticks.append(value)
        value -= step
    return ticks


def burn_down(points: Sequence[tuple[datetime, float]], *, start: datetime, end: datetime, width: int = 720, height: int = 240,
              markers: Sequence[tuple[datetime, str]] = ()) -> str:
    """Remaining error budget (1 = all of it) over the window, with the ideal straight line; `markers`
    (when, label) are drawn as dashed verticals with the label as their tooltip (deploys).

    A budget spent beyond zero (the SLO is missed) goes below the 0% line: the axis
    extends down to a round figure under the lowest point, and that area is shaded."""
    left, bottom, top = 56, height - 28, 10
    span = (end - start).total_seconds() or 1.0

    def x(at: datetime) -> float:
        return left + min(max((at - start).total_seconds() / span, 0.0), 1.0) * (width - left - 10)

    lowest = min([0.0] + [v for _at, v in points if math.isfinite(v)])
    low = -nice_ceiling(-lowest) if lowest < 0 else 0.0

    def y(value: float) -> float:
        value = min(max(value, low), 1.0)
        return top + (1.0 - value) / (1.0 - low) * (bottom - top)

    ticks = [v for v in _budget_ticks(low) if v == 0.0 or abs(y(v) - y(0.0)) >= 14]  # labels never overlap
    grid = "".join(f'<line x1="{left}" x2="{width - 10}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#d0d7de"/>'
                   f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="11" fill="#57606a">{v:.0%}</text>'
                   for v in ticks)
    overspent = ""
    if low < 0:
        overspent = (f'<rect x="{left}" y="{y(0.0):.1f}" width="{width - 10 - left}" height="{y(low) - y(0.0):.1f}" fill="#cf222e" '
                     f'fill-opacity="0.08"/><text x="{width - 14}" y="{y(0.0) + 14:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#cf222e">budget overspent</text>')
    ideal = f'<line x1="{x(start):.1f}" y1="{y(1.0):.1f}" x2="{x(end):.1f}" y2="{y(0.0):.1f}" stroke="#8c959f" stroke-dasharray="4 4"/>'
    line = ""
    drawn = [(at, v) for at, v in points if math.isfinite(v)]
    if drawn:
        path = " ".join(f"{x(at):.1f},{y(v):.1f}" for at, v in drawn)
        line = f'<polyline fill="none" stroke="#0a58ca" stroke-width="2" points="{path}"/>'
    labels = (f'<text x="{left}" y="{height - 8}" font-size="11" fill="#57606a">{start:%b %d}</text>'
              f'<text x="{width - 10}" y="{height - 8}" font-size="11" fill="#57606a" text-anchor="end">{end:%b %d}</text>')
    marks = "".join(f'<g class="marker deploy-marker"><title>{escape(label)}</title><line x1="{x(at):.1f}" x2="{x(at):.1f}" '
                    f'y1="{top}" y2="{bottom}" stroke="#57606a" stroke-width="1.5" stroke-dasharray="2 3"/></g>'
                    for at, label in markers if start <= at <= end)
    now_left = f"; now {drawn[-1][1]:.0%} left" if drawn else ""
    return (f'<svg class="burn-down" width="100%" viewBox="0 0 {width} {height}" role="img" '
            f'aria-labelledby="burn-down-title"><title id="burn-down-title">Error budget remaining over the window{now_left}; '
            f'the dashed line spends it evenly</title>{overspent}{grid}{ideal}{line}{marks}{labels}</svg>')
