"""Inbound integrations on a staff page: where each source posts, the exact configuration to
paste (alertmanager.yml's receiver, Grafana's contact point), and a new token shown once."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from alerting import services
from alerting.integrations import receiver_snippet
from alerting.models import Integration
from core.roles import ADMIN, VIEWER, has_role, role_required
from core.services import audit_record

WHERE_TO_PASTE = {
    Integration.Kind.ALERTMANAGER: "alertmanager.yml, then point a route at the receiver (route: {receiver: vigil}) and reload Alertmanager",
    Integration.Kind.GRAFANA: "a Grafana provisioning file (or Alerting > Contact points > Webhook with the same URL and Bearer credentials)",
    Integration.Kind.SENTRY: "the webhook URL of your Sentry internal integration",
    Integration.Kind.PAGERDUTY: "the URL of a PagerDuty V3 webhook subscription for incident.acknowledged",
}


def _rows(issued: dict[int, str] | None = None) -> list[dict[str, object]]:
    issued = issued or {}
    return [{"integration": integration, "snippet": receiver_snippet(integration, token=issued.get(integration.pk)),
             "issued": integration.pk in issued, "where": WHERE_TO_PASTE[Integration.Kind(integration.kind)],
             "can_issue": integration.kind in Integration.TOKEN_KINDS}
            for integration in Integration.objects.select_related("rule").order_by("name")]


@role_required(VIEWER)
def integration_list(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/integrations.html", {"rows": _rows(), "can_issue": has_role(request.user, ADMIN)})


@require_POST
@role_required(ADMIN)
def integration_issue_token(request: HttpRequest, pk: int) -> HttpResponse:
    """A new bearer token, shown once in the snippet; the old one stops working."""
    integration = get_object_or_404(Integration, pk=pk)
    try:
        token = services.integration_issue_token(integration=integration)
    except ValidationError as exc:
        return render(request, "dashboard/integrations.html", {"rows": _rows(), "can_issue": True, "error": " ".join(exc.messages)},
                      status=400)
    audit_record(actor=request.user, action="issue_token", target=integration, request=request, source="console", changes={})
    response = render(request, "dashboard/integrations.html", {"rows": _rows({integration.pk: token}), "can_issue": True})
    response["Cache-Control"] = "no-store"  # the token is in the page
    return response
