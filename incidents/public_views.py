"""The public page of one incident: its full timeline, public incidents only."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from incidents.models import Incident


def public_incident(request: HttpRequest, pk: int) -> HttpResponse:
    incident = Incident.objects.filter(pk=pk, is_public=True).first()
    if incident is None:
        raise Http404("No such incident")
    updates = incident.updates.order_by("-created_at", "-id")
    impacts = incident.impacts.select_related("component").filter(component__is_public=True)
    return render(request, "incidents/public_incident.html", {"incident": incident, "updates": updates, "impacts": impacts})
