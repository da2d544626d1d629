"""The guides' four dashboards (system overview, requests, database, operations) as staff pages,
built from the monitors that carry the dashboard's tag: the guides' alert pack tags its monitors,
and a team adds a monitor to a dashboard by giving it the tag."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from alerting import services as alerting_services
from configfile import packs
from core.roles import VIEWER, role_required
from monitors.models import Monitor


def _panel(monitor: Monitor) -> dict[str, object]:
    settings = monitor.settings or {}
    limits = {name: settings.get(name) for name in ("warn_above", "down_above", "warn_below", "down_below") if settings.get(name) is not None}
    return {"monitor": monitor, "limits": limits, "rules": [rule for rule in alerting_services.rules_for(monitor)]}


@role_required(VIEWER)
def board(request: HttpRequest, slug: str) -> HttpResponse:
    title = packs.DASHBOARDS.get(slug)
    if title is None:
        raise Http404(f"no dashboard {slug!r}; the dashboards are {', '.join(packs.DASHBOARDS)}")
    now = timezone.now()
    monitors = list(Monitor.objects.filter(tags__name=slug).prefetch_related("tags").order_by("name"))
    return render(request, "dashboard/board.html", {
        "title": title, "slug": slug, "boards": packs.DASHBOARDS, "now": now, "panels": [_panel(monitor) for monitor in monitors]})
