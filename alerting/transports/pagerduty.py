"""PagerDuty Events API v2: trigger, acknowledge and resolve with one dedup_key per alert group."""

from __future__ import annotations

from typing import Any

from alerting.messages import AlertMessage
from alerting.transports.base import Delivery, TransportError, post_json

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
ACTIONS = {"firing": "trigger", "escalation": "trigger", "resolved": "resolve", "acknowledged": "acknowledge", "test": "trigger"}


def payload(channel: Any, message: AlertMessage, kind: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": channel.config["routing_key"],
        "event_action": ACTIONS[kind],
        # The same key for every event about one alert group: PagerDuty folds them into one incident.
        "dedup_key": message.dedup_key,
    }
    if event["event_action"] == "trigger":
        event["payload"] = {
            "summary": f"{message.title}: {message.text}"[:1024],
            "source": message.source or "vigil",
            "severity": message.severity if message.severity in ("critical", "warning", "info") else "error",
            "timestamp": message.at,
            "component": message.component or None,
            "group": message.group_key or None,
            "class": message.event_class or None,
            "custom_details": dict(message.fields) | ({"runbook": message.runbook_text} if message.runbook_text else {}),
        }
        event["links"] = [{"href": url, "text": label} for label, url in message.links]
        event["client"] = "Vigil"
        if message.url:
            event["client_url"] = message.url
    return event


def send(channel: Any, message: AlertMessage, notification: Any) -> Delivery:
    delivery = post_json(channel.config.get("url") or EVENTS_URL, payload(channel, message, notification.kind))
    if delivery.code != 202:
        raise TransportError(f"PagerDuty answered HTTP {delivery.code}, not 202", code=delivery.code)
    return delivery
