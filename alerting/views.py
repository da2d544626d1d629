"""The signed acknowledge link in every notification: a page with one button."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from alerting import services
from alerting.models import Alert
from core.services import audit_record


@require_http_methods(["GET", "POST"])
def acknowledge(request: HttpRequest, token: str) -> HttpResponse:
    try:
        group = services.group_for_ack_token(token)
    except services.AckError as exc:
        return render(request, "alerting/ack.html", {"problem": str(exc)}, status=400)
    done = request.method == "POST"
    if done:
        services.acknowledge_group(group=group, by=request.user, now=timezone.now())
        audit_record(actor=request.user, action="alert.acknowledge", target=group, request=request, source="console")
    alerts = list(Alert.objects.filter(rule=group.rule, group_key=group.group_key).exclude(status=Alert.Status.RESOLVED))
    return render(request, "alerting/ack.html", {"group": group, "alerts": alerts, "done": done, "token": token})
