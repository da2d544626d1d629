"""The signed acknowledge link in every notification: a page with one button."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from alerting import services
from alerting.models import Alert


@require_http_methods(["GET", "POST"])
def acknowledge(request: HttpRequest, token: str) -> HttpResponse:
    from django.core import signing

    try:
        payload = signing.loads(token, salt=services.ACK_SALT, max_age=7 * 24 * 3600)
    except signing.BadSignature:
        return render(request, "alerting/ack.html", {"problem": "This acknowledge link is not valid (or older than 7 days); "
                                                                 "acknowledge in the admin instead."}, status=400)
    if request.method == "POST":
        try:
            group = services.acknowledge_group(token=token, by=request.user, now=timezone.now())
        except services.AckError as exc:
            return render(request, "alerting/ack.html", {"problem": str(exc)}, status=400)
        from core.services import audit_record

        audit_record(actor=request.user, action="alert.acknowledge", target=group, request=request, source="console")
        done = True
    else:
        done = False
    from alerting.models import AlertGroup

    group = AlertGroup.objects.select_related("rule").filter(pk=payload.get("g")).first()
    alerts = list(Alert.objects.filter(rule=group.rule, group_key=group.group_key).exclude(status=Alert.Status.RESOLVED)) if group else []
    return render(request, "alerting/ack.html", {"group": group, "alerts": alerts, "done": done, "token": token})
