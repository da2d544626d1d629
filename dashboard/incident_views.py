"""The incident commander picker: people on call first. It lives here, above alerting, because
the console (incidents) may not read on-call schedules; the console links to it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from alerting.models import OnCallSchedule
from core.roles import RESPONDER, has_role, role_required
from incidents import services as incident_services
from incidents.models import Incident


def commander_choices(now: object) -> list[tuple[object, str]]:
    """Every responder, those on call now first (each with the schedules they hold)."""
    on_call: dict[int, list[str]] = {}
    for schedule in OnCallSchedule.objects.order_by("name"):
        person = schedule.on_call(now)
        if person is not None:
            on_call.setdefault(person.pk, []).append(schedule.name)
    people = [user for user in get_user_model().objects.filter(is_active=True).order_by("username") if has_role(user, RESPONDER)]
    people.sort(key=lambda user: (user.pk not in on_call, user.get_username()))
    return [(user, f"on call: {', '.join(on_call[user.pk])}" if user.pk in on_call else "") for user in people]


@role_required(RESPONDER)
@require_http_methods(["GET", "POST"])
def incident_commander(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident.objects.select_related("commander"), pk=pk)
    now = timezone.now()
    choices = commander_choices(now)
    if request.method == "POST":
        chosen = {str(user.pk): user for user, _note in choices}.get(request.POST.get("commander", ""))
        if chosen is None:
            messages.error(request, "commander: choose one of the responders listed.")
        else:
            incident_services.incident_set_details(incident_id=incident.pk, expected_version=None, by=request.user, now=now, commander=chosen)
            incident_services.incident_tick_steps(incident_id=incident.pk, steps=["commander_assigned"], by=request.user, now=now)
            messages.success(request, f"{chosen.get_username()} commands {incident.severity} {incident.title}.")
            return redirect(incident)
    return render(request, "dashboard/incident_commander.html", {"incident": incident, "choices": choices},
                  status=400 if request.method == "POST" else 200)
