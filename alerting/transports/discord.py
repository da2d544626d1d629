"""Discord webhook with an embed."""

from __future__ import annotations

from typing import Any

from alerting.messages import AlertMessage
from alerting.transports.base import Delivery, post_json

COLOURS = {"critical": 0xCF222E, "warning": 0xBF8700, "info": 0x0969DA, "resolved": 0x1A7F37}


def payload(message: AlertMessage) -> dict[str, Any]:
    state = "resolved" if message.resolved else message.severity
    description = message.text
    if message.runbook_text:
        description += f"\n\n**Runbook**\n{message.runbook_text}"
    if message.links:
        description += "\n\n" + " · ".join(f"[{label}]({url})" for label, url in message.links)
    embed = {
        "title": message.title[:256],
        "description": description[:4000],
        "color": COLOURS[state],
        "fields": [{"name": name[:256], "value": str(value)[:1024], "inline": True} for name, value in message.fields][:25],
        "timestamp": message.at,
        "footer": {"text": message.footer[:2048]},
    }
    if message.url:
        embed["url"] = message.url
    return {"username": "Vigil", "content": message.title[:2000], "embeds": [embed], "allowed_mentions": {"parse": []}}


def send(channel: Any, message: AlertMessage, notification: Any) -> Delivery:
    return post_json(channel.config["url"], payload(message))
