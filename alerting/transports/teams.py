"""Microsoft Teams (workflow or incoming webhook) with an Adaptive Card."""

from __future__ import annotations

from typing import Any

from alerting.messages import AlertMessage
from alerting.transports.base import Delivery, post_json

STYLE = {"critical": "attention", "warning": "warning", "info": "accent", "resolved": "good"}


def payload(message: AlertMessage) -> dict[str, Any]:
    state = "resolved" if message.resolved else message.severity
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": message.title, "weight": "Bolder", "size": "Large", "wrap": True, "color": STYLE[state]},
        {"type": "TextBlock", "text": message.text, "wrap": True},
    ]
    if message.fields:
        body.append({"type": "FactSet", "facts": [{"title": name, "value": str(value)} for name, value in message.fields]})
    if message.runbook_text:
        body.append({"type": "TextBlock", "text": f"**Runbook**: {message.runbook_text}", "wrap": True})
    body.append({"type": "TextBlock", "text": message.footer, "isSubtle": True, "size": "Small", "wrap": True})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in message.links][:5],
    }
    return {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


def send(channel: Any, message: AlertMessage, notification: Any) -> Delivery:
    return post_json(channel.config["url"], payload(message))
