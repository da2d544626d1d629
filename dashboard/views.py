"""Staff pages that belong to no single domain app: home, the overview, the monitor list."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from alerting import services as alerting_services
from alerting.models import Alert, OnCallSchedule
from core.roles import RESPONDER, VIEWER, has_role, role_required
from core.services import audit_record
from incidents import selectors as incident_selectors
from incidents.models import Incident, Maintenance
from monitors.models import Monitor, StateChange
from slo.models import SLO, SLOSnapshot


def home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard")


def _overview(now: datetime) -> dict[str, object]:
    """Everything the overview shows, read in a handful of queries."""
    from django.db.models import OuterRef, Subquery


    counts = dict(Monitor.objects.values_list("state").annotate(n=Count("id")).order_by())
    states = [(state, label, counts.get(state, 0)) for state, label in Monitor.State.choices]
    # Down before degraded, the longest-standing first.
    attention = list(Monitor.objects.filter(state=Monitor.State.DOWN).select_related("component").prefetch_related("tags").order_by("state_since")[:50])
    attention += list(Monitor.objects.filter(state=Monitor.State.DEGRADED).select_related("component").order_by("state_since")[:max(0, 50 - len(attention))])
    rules = alerting_services.enabled_rules()
    for monitor in attention:
        monitor.flapping_now = monitor.flapping_at(now)  # type: ignore[attr-defined]
        monitor.nobody_notified = (monitor.state == Monitor.State.DOWN  # type: ignore[attr-defined]
                                   and alerting_services.nobody_notified_when_down(monitor, rules))
    latest = SLOSnapshot.objects.filter(slo=OuterRef("pk")).order_by("-at")
    slos = SLO.objects.annotate(latest_status=Subquery(latest.values("status")[:1]), remaining=Subquery(latest.values("remaining_ratio")[:1]),
                                burn=Subquery(latest.values("burn_1h")[:1]))
    return {
        "now": now, "states": states, "total": sum(counts.values()), "attention": attention,
        "down_count": counts.get(Monitor.State.DOWN, 0), "degraded_count": counts.get(Monitor.State.DEGRADED, 0),
        "changes": StateChange.objects.select_related("monitor").order_by("-at")[:15],
        "alerts": Alert.objects.filter(status__in=[Alert.Status.FIRING, Alert.Status.ACKNOWLEDGED])
                               .select_related("acknowledged_by", "monitor", "rule").order_by("-status", "first_seen")[:50],
        "incidents": _with_clocks(Incident.objects.filter(status__in=Incident.OPEN_STATUSES).order_by("-started_at")[:20], now),
        "on_call": [(schedule, schedule.on_call(now)) for schedule in OnCallSchedule.objects.order_by("name")[:20]],
        "maintenance_now": Maintenance.objects.filter(status__in=Maintenance.ACTIVE_STATUSES).prefetch_related("components")[:10],
        "maintenance_next": Maintenance.objects.filter(status=Maintenance.Status.SCHEDULED, starts_at__gte=now)
                                               .prefetch_related("components").order_by("starts_at")[:3],
        "overdue_checklists": [state for state in incident_selectors.checklist_states(now) if state.overdue],
        "deploys": list(incident_selectors.deploys_between(now - timedelta(hours=24), now)[:10]),
        "slos_at_risk": [slo for slo in slos if slo.latest_status in ("at risk", "exhausted")],  # type: ignore[attr-defined]
        # The set-up checklist stays on the overview until a down monitor would notify someone.
        "needs_setup": not any("down" in rule.states and alerting_services.rule_notifies(rule) for rule in rules),
        "nobody_notified_count": sum(1 for monitor in attention if monitor.nobody_notified),  # type: ignore[attr-defined]
    }


def _with_clocks(incidents: object, now: datetime) -> list[Incident]:
    """Each open incident with its severity policy's targets: (target, state), for the clock on its card."""
    rows = list(incidents)  # type: ignore[call-overload]
    for incident in rows:
        incident.response_clock = [(target, target.state(now)) for target in incident_selectors.incident_clock(incident)]
    return rows


@role_required(VIEWER)
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/dashboard.html", _overview(timezone.now()))


@role_required(VIEWER)
def dashboard_panels(request: HttpRequest) -> HttpResponse:
    """The overview's live part, fetched again when the websocket says something changed."""
    response = render(request, "dashboard/dashboard.html#panels", _overview(timezone.now()))
    response["Cache-Control"] = "no-store"
    return response


@role_required(RESPONDER)
@require_POST
def dashboard_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    from django.contrib import messages
    from django.db import transaction


    alert = Alert.objects.filter(pk=pk).first()
    if alert is not None and alert.status == Alert.Status.FIRING:
        with transaction.atomic():
            alerting_services.acknowledge(alerts=Alert.objects.filter(pk=pk), by=request.user, now=timezone.now())
            audit_record(actor=request.user, action="alert.acknowledge", target=alert, request=request, source="console")
        note = f"Acknowledged: {alert.summary}. Escalation stops."
    else:
        note = "That alert is no longer firing."
    if request.htmx:
        return dashboard_panels(request)
    messages.info(request, note)
    return redirect("dashboard")


@role_required(VIEWER)
def monitor_list(request: HttpRequest) -> HttpResponse:
    monitors = Monitor.objects.select_related("component").order_by("name")
    state = request.GET.get("state", "")
    if state in Monitor.State.values:
        monitors = monitors.filter(state=state)
    now = timezone.now()
    rows = list(monitors[:500])
    for monitor in rows:
        monitor.flapping_now = monitor.flapping_at(now)  # type: ignore[attr-defined]
    return render(request, "dashboard/monitor_list.html", {"monitors": rows, "state": state, "states": Monitor.State.choices,
                                                           "can_write": has_role(request.user, RESPONDER)})


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception and str(exception) else "You do not have permission to do this."
    return render(request, "403.html", {"message": message}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    """500, except when the database is what failed: then 503 with what to expect (it recovers by itself)."""
    import logging
    import sys

    from django.db import InterfaceError, OperationalError
    from django.http import JsonResponse
    from django.template import loader

    error = sys.exc_info()[1]
    database_down = isinstance(error, (OperationalError, InterfaceError))
    status = 503 if database_down else 500
    if database_down:
        logging.getLogger("vigil.web").warning("database unavailable for %s: %s", request.path, str(error).strip()[:200])
        message = ("Vigil cannot reach its database right now (it may be restarting or out of connections). "
                   "It reconnects by itself; try again in a moment. Public status pages keep serving their last known state.")
    else:
        message = "Something went wrong on our side. The error was logged; please try again in a moment."
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        response: HttpResponse = JsonResponse({"detail": message, "fields": {}}, status=status)
    else:
        # No context processors or database reads: this page must render with the database gone.
        response = HttpResponse(loader.get_template("500.html").render({"message": message, "status": status}), status=status)
    if database_down:
        response["Retry-After"] = "30"
    return response
