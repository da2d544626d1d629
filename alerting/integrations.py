"""Inbound alerts: Prometheus Alertmanager's webhook (payload version 4).

POST /api/v1/integrations/alertmanager with `Authorization: Bearer <token>`. Each alert
becomes (or updates) a Vigil alert keyed by its fingerprint; `resolved` resolves it. The
integration's rule supplies channels, grouping, runbook and escalation."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from alerting.models import Alert, AlertGroup, AlertRule, Integration, Severity
from alerting.services import acknowledge, alert_raise, alert_resolve
from lib.text import clean

MAX_BODY = 1024 * 1024


def issue_token(integration: Integration) -> str:
    token = secrets.token_urlsafe(32)
    Integration.objects.filter(pk=integration.pk).update(token_hash=hashlib.sha256(token.encode()).hexdigest())
    return token


def _integration(request: HttpRequest) -> Integration | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    digest = hashlib.sha256(header[7:].strip().encode()).hexdigest()
    for integration in Integration.objects.filter(kind=Integration.Kind.ALERTMANAGER, enabled=True).select_related("rule"):
        if integration.token_hash and hmac.compare_digest(integration.token_hash, digest):
            return integration
    return None


def _error(status: int, message: str, **fields: str) -> JsonResponse:
    return JsonResponse({"error": message, "fields": fields}, status=status)


def parse(body: bytes) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The alerts of a payload, or field errors that say what is wrong."""
    try:
        payload = json.loads(body)
    except ValueError:
        return [], {"body": "The body is not JSON; Alertmanager sends its webhook payload (version 4)."}
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        return [], {"alerts": "Expected an object with an 'alerts' list (Alertmanager webhook payload)."}
    alerts, errors = [], {}
    for index, item in enumerate(payload["alerts"][:1000]):
        where = f"alerts[{index}]"
        if not isinstance(item, dict):
            errors[where] = "Each alert is an object."
            continue
        labels = item.get("labels")
        if not isinstance(labels, dict) or not labels.get("alertname"):
            errors[f"{where}.labels"] = "Each alert needs labels with an alertname."
            continue
        if item.get("status") not in ("firing", "resolved"):
            errors[f"{where}.status"] = "status is 'firing' or 'resolved'."
            continue
        starts = parse_datetime(str(item.get("startsAt") or "")) if item.get("startsAt") else None
        ends = parse_datetime(str(item.get("endsAt") or "")) if item.get("endsAt") else None
        fingerprint = str(item.get("fingerprint") or hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16])
        annotations = item.get("annotations")
        if not isinstance(annotations, dict):
            annotations = {}
        # Label and annotation values end up in alert titles, mail subjects and pages: control
        # characters are dropped (refusing them would lose the alert); annotations keep line breaks.
        alerts.append({"status": item["status"],
                       "labels": {clean(str(k), multiline=False): clean(str(v), multiline=False) for k, v in labels.items()},
                       "annotations": {clean(str(k), multiline=False): clean(str(v), multiline=True) for k, v in annotations.items()},
                       "starts": starts, "ends": ends,
                       "fingerprint": fingerprint[:100], "url": str(item.get("generatorURL") or "")[:300]})
    return alerts, errors


@transaction.atomic
def ingest(integration: Integration, alerts: list[dict[str, Any]], *, rule: AlertRule, now: datetime) -> dict[str, int]:
    """Raise the firing alerts and resolve the resolved ones, through the integration's rule."""
    counts = {"firing": 0, "resolved": 0}
    for item in alerts:
        key = f"am:{integration.pk}:{item['fingerprint']}"
        if item["status"] == "firing":
            labels = {"rule": rule.name, "source": "alertmanager", **item["labels"]}
            severity = labels.get("severity") if labels.get("severity") in Severity.values else None
            alert_raise(rule=rule, key=key, labels=labels, summary=item["annotations"].get("summary") or labels["alertname"],
                        value=item["annotations"].get("description", ""), severity=severity, first_seen=item["starts"], now=now)
            counts["firing"] += 1
        elif alert_resolve(key=key, now=now, cleared_at=item["ends"]) is not None:
            counts["resolved"] += 1
    return counts


@csrf_exempt  # machine-to-machine, authenticated by the bearer token
@require_POST
def alertmanager_webhook(request: HttpRequest) -> JsonResponse:
    integration = _integration(request)
    if integration is None:
        return _error(401, "Send the integration's token as 'Authorization: Bearer <token>' (admin: Alerting > Integrations).")
    if len(request.body) > MAX_BODY:
        return _error(413, "The payload is larger than 1 MB; lower Alertmanager's max_alerts.")
    alerts, errors = parse(request.body)
    if errors:
        return _error(400, "The payload has errors.", **errors)
    if integration.rule is None:
        return _error(409, f"The integration {integration.name!r} has no rule; choose the rule whose channels and grouping "
                           "its alerts use (admin: Alerting > Integrations).")
    counts = ingest(integration, alerts, rule=integration.rule, now=timezone.now())
    return JsonResponse({"status": "ok", **counts})


# --- PagerDuty V3 webhooks: an acknowledgement in PagerDuty acknowledges here ------------------


def pagerduty_signature_ok(secret: str, body: bytes, header: str) -> bool:
    """X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the body>[,v1=<hex> ...] (one per secret in rotation)."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(part.strip(), f"v1={expected}") for part in header.split(","))


@csrf_exempt  # machine-to-machine, authenticated by the signature
@require_POST
def pagerduty_webhook(request: HttpRequest, pk: int) -> JsonResponse:
    integration = Integration.objects.filter(pk=pk, kind=Integration.Kind.PAGERDUTY, enabled=True).first()
    header = request.headers.get("X-PagerDuty-Signature", "")
    if integration is None or not pagerduty_signature_ok(integration.signing_secret, request.body, header):
        return _error(401, "The X-PagerDuty-Signature does not match this integration's signing secret.")
    try:
        event = json.loads(request.body).get("event", {})
        data = event.get("data") or {}
    except (ValueError, AttributeError):
        return _error(400, "The body is not a PagerDuty V3 webhook payload.", body="Expected {\"event\": {...}}.")
    key = str(data.get("incident_key") or "")
    if event.get("event_type") != "incident.acknowledged" or not key.startswith("vigil-group-"):
        return JsonResponse({"status": "ignored"})
    try:
        group = AlertGroup.objects.get(pk=int(key.removeprefix("vigil-group-")))
    except (ValueError, AlertGroup.DoesNotExist):
        return JsonResponse({"status": "ignored"})
    with transaction.atomic():
        count = acknowledge(alerts=Alert.objects.filter(rule=group.rule, group_key=group.group_key), by=None, now=timezone.now())
    return JsonResponse({"status": "ok", "acknowledged": count})
