"""The guides' four dashboards (system overview, requests, database, operations) as staff pages,
built from the monitors that carry the dashboard's tag: the guides' alert pack tags its monitors,
and a team adds a monitor to a dashboard by giving it the tag.

Each panel is one monitor: its state and last reading, and over the last 24 hours its measured
value (mean and maximum per hour, with the warning and critical lines; monitors.selectors, the
same figures as the monitor's own page) or, for a monitor that measures no value (a health
check, a heartbeat without limits), its uptime per hour."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.safestring import mark_safe

from alerting import services as alerting_services
from configfile import packs
from core.roles import VIEWER, role_required
from lib import charts
from monitors import selectors
from monitors.models import Monitor


def _panel(monitor: Monitor, now: datetime) -> dict[str, object]:
    start, end = now - timedelta(hours=23), now + timedelta(microseconds=1)
    lines = selectors.threshold_lines(monitor)
    values = selectors.value_series(monitor, period="hour", start=start, end=end, now=now)
    labels = [f"{point.start:%H:%M}" for point in values]
    chart_id = f"panel-{monitor.pk}-chart"
    if lines or any(point.count for point in values):
        display = selectors.value_display(monitor)
        chart = charts.line_chart([("mean", [p.mean for p in values]), ("max", [p.high for p in values])], labels,
                                  unit=str(display["unit"]), chart_id=chart_id, thresholds=lines,
                                  title=f"{monitor.name}: {display['label']}, mean and maximum per hour over 24 hours, "
                                        "with its warning and critical lines")
    else:
        hours = selectors.series(monitor, period="hour", start=start, end=end, now=now)
        chart = charts.uptime_bars([p.uptime for p in hours], [f"{p.start:%b %d %H:%M} UTC" for p in hours], chart_id=chart_id,
                                   title=f"{monitor.name}: uptime per hour over 24 hours")
    # lib.charts escapes every text it draws
    return {"monitor": monitor, "chart": mark_safe(chart), "rules": alerting_services.rules_for(monitor)}


@role_required(VIEWER)
def board(request: HttpRequest, slug: str) -> HttpResponse:
    title = packs.DASHBOARDS.get(slug)
    if title is None:
        raise Http404(f"no dashboard {slug!r}; the dashboards are {', '.join(packs.DASHBOARDS)}")
    now = timezone.now()
    monitors = list(Monitor.objects.filter(tags__name=slug).order_by("name"))
    return render(request, "dashboard/board.html", {
        "title": title, "slug": slug, "boards": packs.DASHBOARDS, "panels": [_panel(monitor, now) for monitor in monitors]})
