"""Slack incoming webhook with Block Kit."""

from __future__ import annotations

from typing import Any

from alerting.messages import AlertMessage
from alerting.transports.base import Delivery, post_json

EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:", "resolved": ":white_check_mark:"}


def payload(message: AlertMessage) -> dict[str, Any]:
    state = "resolved" if message.resolved else message.severity
    fields = [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in message.fields][:10]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.title[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{EMOJI[state]} {message.text}"[:3000]}},
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    if message.runbook_text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Runbook*\n{message.runbook_text}"[:3000]}})
    buttons = [{"type": "button", "text": {"type": "plain_text", "text": label}, "url": url} for label, url in message.links][:5]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": message.footer}]})
    return {"text": f"{message.title}: {message.text}"[:3000], "blocks": blocks}


def send(channel: Any, message: AlertMessage, notification: Any) -> Delivery:
    return post_json(channel.config["url"], payload(message))
