"""SLO pages for viewers: every SLO at a glance, and one page per SLO with its burn-down."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from alerting.models import Alert
from core.roles import VIEWER, role_required
from incidents.selectors import deploys_between
from monitors.models import StateChange
from slo import charts, services
from slo.models import SLO, DigestSubscription, SLOSnapshot


@role_required(VIEWER)
def slo_list(request: HttpRequest) -> HttpResponse:
    rows = []
    since = timezone.now() - timedelta(days=7)
    for slo in SLO.objects.select_related("component", "owner"):
        history = list(SLOSnapshot.objects.filter(slo=slo, at__gte=since).order_by("at").values_list("at", "sli", "remaining_ratio"))
        latest = SLOSnapshot.objects.filter(slo=slo).order_by("-at").first()
        # One point an hour is plenty for a sparkline.
        hourly = {at.replace(minute=0): sli for at, sli, _r in history}
        rows.append({
            "slo": slo, "latest": latest,
            "bar": mark_safe(charts.budget_bar(latest.remaining_ratio)) if latest else "",
            "spark": mark_safe(charts.sparkline(list(hourly.values()), label=f"{slo.name}: SLI over 7 days")),
        })
    return render(request, "slo/list.html", {"rows": rows})


@role_required(VIEWER)
def slo_detail(request: HttpRequest, pk: int) -> HttpResponse:
    slo = get_object_or_404(SLO.objects.select_related("component", "owner", "alert_rule"), pk=pk)
    now = timezone.now()
    figures = services.evaluate(slo, now=now)
    start, end = figures["window"]
    snapshots = list(SLOSnapshot.objects.filter(slo=slo, at__gte=start).order_by("at"))
    # Thin the points to at most one an hour for the chart and the table fallback.
    hourly: dict = {}
    for snapshot in snapshots:
        hourly[snapshot.at.replace(minute=0, second=0, microsecond=0)] = snapshot
    points = [(at, s.remaining_ratio) for at, s in hourly.items()]
    # Deploys of the SLO's component (and those naming none) in the window, marked on the chart.
    component_ids = [slo.component_id] if slo.component_id else [
        pk for pk in slo.monitors.values_list("component_id", flat=True) if pk is not None]
    deploys = deploys_between(start, end, component_ids=component_ids)[:100]
    markers = [(deploy.at, f"{deploy.version} deployed {deploy.at:%b %d %H:%M} UTC ({deploy.target})") for deploy in deploys]
    chart = mark_safe(charts.burn_down(points, start=start, end=end, markers=markers))

    alerts = Alert.objects.filter(dedup_key__startswith=f"slo:{slo.pk}:").order_by("-first_seen")[:20]
    from slo.reports import _incidents_touching

    # What spent the budget: incidents on the service, and the monitors' outages behind them.
    incidents = _incidents_touching(slo.component_id, start, end) if slo.component_id else []
    events = (StateChange.objects.filter(monitor__in=slo.monitors.all(), at__gte=start, new_state__in=["down", "degraded"])
              .select_related("monitor").order_by("-at")[:50])
    return render(request, "slo/detail.html", {"slo": slo, "f": figures, "chart": chart, "table": list(hourly.items())[-48:],
                                               "alerts": alerts, "start": start, "end": end, "incidents": incidents, "events": events})


@role_required(VIEWER)
def monthly_report(request: HttpRequest, month: str, fmt: str = "html") -> HttpResponse:
    import json

    from django.http import Http404

    from slo import reports

    try:
        year, number = reports.parse_month(month)
    except reports.BadMonth as exc:
        raise Http404(str(exc)) from None
    rows = reports.month_report(year, number, now=timezone.now())
    if fmt == "csv":
        response = HttpResponse(reports.as_csv(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="slo-report-{month}.csv"'
        return response
    if fmt == "json":
        return HttpResponse(json.dumps(reports.as_json(year, number, rows), indent=2), content_type="application/json")
    from datetime import datetime

    before = reports.previous(year, number)
    after = (year + 1, 1) if number == 12 else (year, number + 1)
    previous, following = f"{before[0]:04d}-{before[1]:02d}", f"{after[0]:04d}-{after[1]:02d}"
    return render(request, "slo/report.html", {"reports": rows, "month": month, "start": datetime(year, number, 1),
                                               "previous": previous, "following": following})


@role_required(VIEWER)
@require_POST
def digest_subscription(request: HttpRequest) -> HttpResponse:
    """Opt in to (or out of) the daily digest email."""
    wanted = request.POST.get("active") == "1"
    if wanted and not request.user.email:  # type: ignore[union-attr]
        messages.error(request, "Daily digest: your account has no email address; an admin sets it in the admin (Users).")
    else:
        DigestSubscription.objects.update_or_create(user=request.user, defaults={"active": wanted})
        messages.success(request, "You get the daily digest by email." if wanted else "You no longer get the daily digest.")
    return redirect(request.POST.get("next") if request.POST.get("next", "").startswith("/") else "ops-checklists")
