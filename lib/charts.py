"""Server-side SVG charts for staff pages: attributes only (no inline style, no script), so
they pass a strict CSP and render without JavaScript. Every chart has a title for screen
readers, and its page shows the same numbers as a table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

# Colour plus a dash pattern, so series differ for readers who do not see the colours.
SERIES_STYLES = (("#0a58ca", ""), ("#9a6700", "6 3"), ("#cf222e", "2 3"), ("#1a7f37", "8 3 2 3"))
GRID, TEXT = "#d0d7de", "#57606a"
# Threshold lines: orange for a warning, dark red for critical, in long dashes unlike any series, named in their tooltip and label.
THRESHOLD_COLOURS = {"warn": "#bc4c00", "down": "#a40e26"}


def nice_ceiling(value: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten, at least value (for axis tops)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _segments(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Runs of points without gaps: a bucket with no data breaks the line instead of drawing zero."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]


def line_chart(series: Sequence[tuple[str, Sequence[float | None]]], x_labels: Sequence[str], *, title: str, unit: str = "",
               chart_id: str = "chart", width: int = 720, height: int = 220,
               markers: Sequence[tuple[float, str]] = (), thresholds: Sequence[tuple[float, str, str]] = ()) -> str:
    """Lines over buckets; `markers` are (position in buckets, label) pairs drawn as dashed verticals
    with the label as their tooltip (deploy markers: position 3.5 is halfway through the fourth bucket);
    `thresholds` are (value, label, "warn" or "down") drawn as dashed horizontals the axis always reaches."""
    left, right, top, bottom = 56, width - 12, 12, height - 44
    count = max((len(values) for _name, values in series), default=0)
    peak = max((v for _name, values in series for v in values if v is not None), default=0.0)
    top_value = nice_ceiling(max([peak, *(limit for limit, _label, _level in thresholds)]))

    def x(index: int) -> float:
        return left + (index / (count - 1) if count > 1 else 0.5) * (right - left)

    def y(value: float) -> float:
        return bottom - value / top_value * (bottom - top)

    parts = [f'<svg class="chart line-chart" width="100%" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{chart_id}-title">'
             f'<title id="{chart_id}-title">{escape(title)}</title>']
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        value = top_value * fraction
        parts.append(f'<line x1="{left}" x2="{right}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="{GRID}"/>'
                     f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11" fill="{TEXT}">'
                     f'{value:g}{escape(unit)}</text>')
    if count:
        ticks = sorted({0, count - 1, *range(0, count, max(1, count // 6))})
        for index in ticks:
            if index < len(x_labels):
                anchor = "start" if index == 0 and count > 1 else "end" if index == count - 1 and count > 1 else "middle"
                parts.append(f'<text x="{x(index):.1f}" y="{bottom + 16}" text-anchor="{anchor}" font-size="11" fill="{TEXT}">'
                             f'{escape(x_labels[index])}</text>')
    for number, (name, values) in enumerate(series):
        colour, dash = SERIES_STYLES[number % len(SERIES_STYLES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        for run in _segments([(x(i), v) for i, v in enumerate(values)]):
            if len(run) == 1:
                px, py = run[0]
                parts.append(f'<circle cx="{px:.1f}" cy="{y(py):.1f}" r="2.5" fill="{colour}"/>')
            else:
                path = " ".join(f"{px:.1f},{y(py):.1f}" for px, py in run)
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash_attr} points="{path}"/>')
        legend_x = left + number * 110
        parts.append(f'<line x1="{legend_x}" x2="{legend_x + 22}" y1="{height - 10}" y2="{height - 10}" stroke="{colour}" '
                     f'stroke-width="2"{dash_attr}/><text x="{legend_x + 28}" y="{height - 6}" font-size="12" fill="{TEXT}">'
                     f'{escape(name)}</text>')
    for limit, label, level in thresholds:
        colour = THRESHOLD_COLOURS.get(level, TEXT)
        parts.append(f'<g class="threshold threshold-{escape(level)}"><title>{escape(label)}</title>'
                     f'<line x1="{left}" x2="{right}" y1="{y(limit):.1f}" y2="{y(limit):.1f}" stroke="{colour}" stroke-width="1.5" '
                     f'stroke-dasharray="14 4"/><text x="{right - 4}" y="{y(limit) - 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="{colour}">{escape(label)}</text></g>')
    for position, label in markers:
        # A point stands for its bucket's start: a deploy within the last bucket is drawn at the right edge.
        if count and 0 <= position < count:
            at = min(right, x(0) + position * ((x(1) - x(0)) if count > 1 else 0))
            parts.append(f'<g class="marker deploy-marker"><title>{escape(label)}</title>'
                         f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{top}" y2="{bottom}" stroke="{TEXT}" stroke-width="1.5" stroke-dasharray="2 3"/>'
                         f'<text x="{at + 3:.1f}" y="{top + 10}" font-size="10" fill="{TEXT}">{escape(label.split(" ")[0])}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def uptime_colour(percent: float | None) -> str:
    if percent is None:
        return "#d0d7de"
    return "#1a7f37" if percent >= 99.9 else "#9a6700" if percent >= 99.0 else "#cf222e"


def uptime_bars(values: Sequence[float | None], labels: Sequence[str], *, title: str, chart_id: str = "bars",
                width: int = 720, height: int = 48, markers: Sequence[tuple[float, str]] = ()) -> str:
    """One bar per bucket coloured by uptime; each bar's tooltip says the bucket and the figure.
    `markers` as in line_chart: (position in buckets, label), drawn as dashed verticals."""
    count = len(values) or 1
    slot = width / count
    parts = [f'<svg class="chart uptime-bars" width="100%" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{chart_id}-title">'
             f'<title id="{chart_id}-title">{escape(title)}</title>']
    for index, value in enumerate(values):
        label = labels[index] if index < len(labels) else ""
        figure = "no data" if value is None else f"{value:.2f}% up"
        parts.append(f'<rect x="{index * slot + 1:.1f}" y="2" width="{max(slot - 2, 1):.1f}" height="{height - 4}" rx="1.5" '
                     f'fill="{uptime_colour(value)}"><title>{escape(label)}: {figure}</title></rect>')
    for position, label in markers:
        if 0 <= position < count:
            at = position * slot
            parts.append(f'<g class="marker deploy-marker"><title>{escape(label)}</title>'
                         f'<line x1="{at:.1f}" x2="{at:.1f}" y1="0" y2="{height}" stroke="{TEXT}" stroke-width="1.5" '
                         f'stroke-dasharray="2 3"/></g>')
    parts.append("</svg>")
    return "".join(parts)
