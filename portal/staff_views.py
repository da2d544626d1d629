"""Staff pages that belong to no single domain app: home, the overview, the monitor list."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from monitors.models import Monitor, StateChange
from portal.roles import VIEWER, role_required


def home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard")


@role_required(VIEWER)
def dashboard(request: HttpRequest) -> HttpResponse:
    counts = dict(Monitor.objects.values_list("state").annotate(n=Count("id")).order_by())
    states = [(state, label, counts.get(state, 0)) for state, label in Monitor.State.choices]
    attention = Monitor.objects.filter(state__in=[Monitor.State.DOWN, Monitor.State.DEGRADED]).order_by("-state", "state_since")[:50]
    changes = StateChange.objects.select_related("monitor").order_by("-at")[:20]
    from django.utils import timezone

    from alerting.models import Alert, OnCallSchedule

    now = timezone.now()
    on_call = [(schedule, schedule.on_call(now)) for schedule in OnCallSchedule.objects.all()[:20]]
    alerts = Alert.objects.filter(status__in=[Alert.Status.FIRING, Alert.Status.ACKNOWLEDGED]).select_related("acknowledged_by")[:50]
    return render(request, "portal/dashboard.html", {"states": states, "attention": attention, "changes": changes,
                                                     "total": sum(counts.values()), "on_call": on_call, "alerts": alerts})


@role_required(VIEWER)
def monitor_list(request: HttpRequest) -> HttpResponse:
    monitors = Monitor.objects.select_related("component").order_by("name")
    state = request.GET.get("state", "")
    if state in Monitor.State.values:
        monitors = monitors.filter(state=state)
    return render(request, "portal/monitor_list.html", {"monitors": monitors[:500], "state": state, "states": Monitor.State.choices})


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception and str(exception) else "You do not have permission to do this."
    return render(request, "403.html", {"message": message}, status=403)
