"""Inbound alerts: Prometheus Alertmanager's webhook (payload version 4), Grafana alerting's
webhook contact point and Sentry's alert webhooks.

POST /api/v1/integrations/alertmanager (or /grafana) with `Authorization: Bearer <token>` (or
basic auth with the token as password). Each alert becomes (or updates) a Vigil alert keyed by
its fingerprint; `resolved` resolves it. POST /api/v1/integrations/sentry/<id>, signed by
Sentry (Sentry-Hook-Signature): a metric alert's incident is raised at its trigger's severity
and resolved with it, an issue alert raises the issue's alert at the event's level. Every
integration's rule supplies channels, grouping, runbook and escalation."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from alerting.models import Alert, AlertGroup, AlertRule, Integration, Severity, severity_from_label
from alerting.services import (
    acknowledge,
    alert_raise,
    alert_resolve,
    integration_issue_token,
    integration_signing_secret,
    integration_token_matches,
)
from lib.text import clean

MAX_BODY = 1024 * 1024
MAX_ANNOTATIONS = 30  # per alert
MAX_ANNOTATION = 2000  # characters of one annotation's value


def issue_token(integration: Integration) -> str:
    return integration_issue_token(integration=integration)


def webhook_url(integration: Integration) -> str:
    return f"{str(settings.VIGIL_BASE_URL).rstrip('/')}{integration.endpoint_path}"


def receiver_snippet(integration: Integration, *, token: str | None = None) -> str:
    """What to paste where the source is configured: alertmanager.yml's receiver, Grafana's
    provisioned contact point, or the URL a signed source posts to. With `token` (just issued)
    it is complete; otherwise it says where the token comes from."""
    if token is not None:
        credentials = token
    elif integration.token_env:
        name = integration.token_env.removeprefix("env:")
        credentials = f"<the value of ${name}>"
    else:
        credentials = "<the token Vigil issued for this integration>"
    url = webhook_url(integration)
    if integration.kind == Integration.Kind.ALERTMANAGER:
        return (f"receivers:\n  - name: vigil\n    webhook_configs:\n      - url: {url}\n        send_resolved: true\n"
                f"        http_config:\n          authorization:\n            type: Bearer\n            credentials: {credentials}\n")
    if integration.kind == Integration.Kind.GRAFANA:
        return (f"apiVersion: 1\ncontactPoints:\n  - orgId: 1\n    name: vigil\n    receivers:\n      - uid: vigil\n"
                f"        type: webhook\n        settings:\n          url: {url}\n          authorization_scheme: Bearer\n"
                f"          authorization_credentials: {credentials}\n")
    return f"{url}\n"


def _presented_token(request: HttpRequest) -> str | None:
    """The token of `Authorization: Bearer <token>`, or basic auth's password (any user name)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or decoded
    return None


def _integration(request: HttpRequest, kind: str = Integration.Kind.ALERTMANAGER) -> Integration | None:
    token = _presented_token(request)
    if not token:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()
    for integration in Integration.objects.filter(kind=kind, enabled=True).select_related("rule"):
        if integration_token_matches(integration, digest):
            return integration
    return None


def _error(status: int, message: str, **fields: str) -> JsonResponse:
    return JsonResponse({"error": message, "fields": fields}, status=status)


# Grafana's alerts carry links beside Alertmanager's generatorURL: [payload key, button label].
LINK_KEYS = {
    "alertmanager": [("generatorURL", "Source")],
    "grafana": [("generatorURL", "Grafana rule"), ("dashboardURL", "Dashboard"), ("panelURL", "Panel")],
}
SOURCE_NAMES = {"alertmanager": "Alertmanager sends its webhook payload (version 4)",
                "grafana": "Grafana's webhook contact point sends its JSON payload"}


def _links(item: dict[str, Any], keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    found = []
    for key, label in keys:
        url = item.get(key)
        if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 1000:
            found.append((label, clean(url, multiline=False)))
    return found


def parse(body: bytes, source: str = "alertmanager") -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The alerts of a payload (Alertmanager's, or Grafana's which extends it), or field errors that say what is wrong."""
    try:
        payload = json.loads(body)
    except ValueError:
        return [], {"body": f"The body is not JSON; {SOURCE_NAMES[source]}."}
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        return [], {"alerts": f"Expected an object with an 'alerts' list ({SOURCE_NAMES[source]})."}
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
        # Bounded: an alert row and every notification carry them.
        annotations = dict(list(annotations.items())[:MAX_ANNOTATIONS])
        # Label and annotation values end up in alert titles, mail subjects and pages: control
        # characters are dropped (refusing them would lose the alert); annotations keep line breaks.
        alerts.append({"status": item["status"],
                       "labels": {clean(str(k), multiline=False): clean(str(v), multiline=False) for k, v in labels.items()},
                       "annotations": {clean(str(k), multiline=False)[:100]: clean(str(v), multiline=True)[:MAX_ANNOTATION]
                                       for k, v in annotations.items()},
                       "starts": starts, "ends": ends,
                       "fingerprint": fingerprint[:100], "links": _links(item, LINK_KEYS[source]),
                       # Grafana: what the query saw, e.g. "[ var='B' labels={} value=0.071 ]".
                       "value": clean(str(item.get("valueString") or ""), multiline=False)})
    return alerts, errors


KEY_PREFIXES = {"alertmanager": "am", "grafana": "grafana"}


@transaction.atomic
def ingest(integration: Integration, alerts: list[dict[str, Any]], *, rule: AlertRule, now: datetime,
           source: str = "alertmanager") -> dict[str, int]:
    """Raise the firing alerts and resolve the resolved ones, through the integration's rule."""
    counts = {"firing": 0, "resolved": 0}
    for item in alerts:
        key = f"{KEY_PREFIXES[source]}:{integration.pk}:{item['fingerprint']}"
        if item["status"] == "firing":
            labels = {"rule": rule.name, "source": source, **item["labels"]}
            annotations = item["annotations"]
            links = list(item["links"])
            # The alert's own runbook (Prometheus rules' `runbook_url` annotation) is a button like the rule's.
            runbook = annotations.get("runbook_url", "")
            if runbook.startswith(("https://", "http://")) and len(runbook) <= 1000:
                links.append(("Runbook", runbook))
            alert_raise(rule=rule, key=key, labels=labels, summary=annotations.get("summary") or labels["alertname"],
                        value=annotations.get("description") or item["value"], severity=severity_from_label(labels.get("severity", "")),
                        first_seen=item["starts"], links=links, annotations=annotations, now=now)
            counts["firing"] += 1
        elif alert_resolve(key=key, now=now, cleared_at=item["ends"]) is not None:
            counts["resolved"] += 1
    return counts


@csrf_exempt  # machine-to-machine, authenticated by the bearer token
@require_POST
def alertmanager_webhook(request: HttpRequest) -> JsonResponse:
    integration = _integration(request)
    if integration is None:
        return _error(401, "Send the integration's token as 'Authorization: Bearer <token>' (the staff page /integrations/ shows "
                           "the alertmanager.yml receiver to paste and issues tokens).")
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


@csrf_exempt  # machine-to-machine, authenticated by the bearer token (or basic auth)
@require_POST
def grafana_webhook(request: HttpRequest) -> JsonResponse:
    integration = _integration(request, Integration.Kind.GRAFANA)
    if integration is None:
        return _error(401, "Send the integration's token as 'Authorization: Bearer <token>', or as the basic auth password "
                           "(Grafana contact point > Optional Webhook settings; admin: Alerting > Integrations).")
    if len(request.body) > MAX_BODY:
        return _error(413, "The payload is larger than 1 MB; send fewer alerts per notification (Grafana: group by more labels).")
    alerts, errors = parse(request.body, source="grafana")
    if errors:
        return _error(400, "The payload has errors.", **errors)
    if integration.rule is None:
        return _error(409, f"The integration {integration.name!r} has no rule; choose the rule whose channels and grouping "
                           "its alerts use (admin: Alerting > Integrations).")
    counts = ingest(integration, alerts, rule=integration.rule, now=timezone.now(), source="grafana")
    return JsonResponse({"status": "ok", **counts})


# --- Sentry: issue alerts and metric alerts from an internal integration ------------------------

# An event's level says how bad it is; a metric alert's trigger is critical or warning.
SENTRY_LEVELS = {"fatal": Severity.CRITICAL, "error": Severity.CRITICAL, "warning": Severity.WARNING,
                 "info": Severity.INFO, "debug": Severity.INFO, "log": Severity.INFO}


def sentry_signature_ok(secret: str, body: bytes, header: str) -> bool:
    """Sentry-Hook-Signature: the hex HMAC-SHA256 of the body with the integration's client secret."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return bool(header) and hmac.compare_digest(header.strip(), expected)


def _text(value: Any, limit: int = 300) -> str:
    return clean(str(value), multiline=False)[:limit] if value not in (None, "") else ""


def _sentry_page(url: Any, label: str) -> list[tuple[str, str]]:
    """A link to Sentry; an event's web_url (.../issues/<id>/events/<event id>/) leads to its issue's page."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 1000:
        return []
    if "/issues/" in url and "/events/" in url:
        url = url.split("/events/")[0] + "/"
    return [(label, clean(url, multiline=False))]


def parse_sentry(resource: str, payload: Any, integration: Integration) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """What a Sentry webhook asks for: {"status": "firing" | "resolved", "key", ...}, None when it
    is not about an alert (installation, other issue activity), or field errors."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        return None, {"data": "Expected Sentry's webhook payload: an object with 'action' and 'data'."}
    action, data = payload.get("action"), payload["data"]
    prefix = f"sentry:{integration.pk}"
    if resource == "metric_alert":
        incident = data.get("metric_alert")
        if not isinstance(incident, dict) or not incident.get("id"):
            return None, {"data.metric_alert": "A metric alert webhook carries data.metric_alert with the incident's id."}
        if action not in ("critical", "warning", "resolved"):
            return None, {"action": "A metric alert's action is 'critical', 'warning' or 'resolved'."}
        rule: dict[str, Any] = incident["alert_rule"] if isinstance(incident.get("alert_rule"), dict) else {}
        name = _text(rule.get("name") or incident.get("title"), 200) or "Sentry metric alert"
        projects: list[Any] = rule["projects"] if isinstance(rule.get("projects"), list) else []
        return {
            "status": "resolved" if action == "resolved" else "firing", "key": f"{prefix}:metric:{_text(incident['id'], 60)}",
            "severity": action if action != "resolved" else None, "summary": _text(data.get("description_title")) or name,
            "value": _text(data.get("description_text")), "links": _sentry_page(data.get("web_url"), "Sentry alert"),
            "labels": {"alertname": name, "sentry": "metric_alert", "projects": ",".join(_text(p, 60) for p in projects[:10])},
            "starts": parse_datetime(str(incident.get("date_started") or "")),
            "ends": parse_datetime(str(incident.get("date_closed") or "")),
        }, {}
    if resource == "event_alert":
        event = data.get("event")
        if not isinstance(event, dict) or not (event.get("issue_id") or event.get("title")):
            return None, {"data.event": "An issue alert webhook carries data.event with the issue_id and title."}
        tags = {str(pair[0]): pair[1] for pair in event.get("tags") or [] if isinstance(pair, list) and len(pair) == 2}
        level = str(event.get("level") or tags.get("level") or "").lower()
        rule_name = _text(data.get("triggered_rule"), 200) or "Sentry issue alert"
        issue = _text(event.get("issue_id") or hashlib.sha256(str(event.get("title")).encode()).hexdigest()[:16], 60)
        return {
            "status": "firing", "key": f"{prefix}:issue:{issue}", "severity": SENTRY_LEVELS.get(level),
            "summary": _text(event.get("title")) or f"Sentry issue {issue}", "value": _text(event.get("culprit")),
            "links": _sentry_page(event.get("web_url"), "Sentry issue"),
            "labels": {"alertname": rule_name, "sentry": "event_alert", "level": _text(level, 20),
                       "environment": _text(tags.get("environment"), 100), "issue": issue},
            "starts": None, "ends": None,
        }, {}
    if resource == "issue" and action in ("resolved", "ignored", "archived"):
        issue = data.get("issue")
        if not isinstance(issue, dict) or not issue.get("id"):
            return None, {"data.issue": "An issue webhook carries data.issue with its id."}
        return {"status": "resolved", "key": f"{prefix}:issue:{_text(issue['id'], 60)}", "ends": None}, {}
    return None, {}


@csrf_exempt  # machine-to-machine, authenticated by the signature
@require_POST
def sentry_webhook(request: HttpRequest, pk: int) -> JsonResponse:
    integration = Integration.objects.filter(pk=pk, kind=Integration.Kind.SENTRY, enabled=True).select_related("rule").first()
    secret = integration_signing_secret(integration) if integration is not None else None
    if integration is None or not secret or not sentry_signature_ok(secret, request.body, request.headers.get("Sentry-Hook-Signature", "")):
        return _error(401, "The Sentry-Hook-Signature does not match this integration's signing secret (the Client Secret "
                           "of your Sentry internal integration; admin: Alerting > Integrations).")
    if len(request.body) > MAX_BODY:
        return _error(413, "The payload is larger than 1 MB.")
    try:
        payload = json.loads(request.body)
    except ValueError:
        return _error(400, "The payload has errors.", body="The body is not JSON; Sentry sends its webhook payload.")
    resource = request.headers.get("Sentry-Hook-Resource", "")
    item, errors = parse_sentry(resource, payload, integration)
    if errors:
        return _error(400, "The payload has errors.", **errors)
    if item is None:
        return JsonResponse({"status": "ignored", "resource": resource})
    if integration.rule is None:
        return _error(409, f"The integration {integration.name!r} has no rule; choose the rule whose channels and grouping "
                           "its alerts use (admin: Alerting > Integrations).")
    rule, now = integration.rule, timezone.now()
    with transaction.atomic():
        if item["status"] == "firing":
            alert_raise(rule=rule, key=item["key"], labels={"rule": rule.name, "source": "sentry", **item["labels"]},
                        summary=item["summary"], value=item["value"], severity=item["severity"], first_seen=item["starts"],
                        links=item["links"], now=now)
            return JsonResponse({"status": "ok", "firing": 1, "resolved": 0})
        resolved = alert_resolve(key=item["key"], now=now, cleared_at=item["ends"]) is not None
    return JsonResponse({"status": "ok", "firing": 0, "resolved": int(resolved)})


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
    secret = integration_signing_secret(integration) if integration is not None else None
    if integration is None or not secret or not pagerduty_signature_ok(secret, request.body, header):
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
