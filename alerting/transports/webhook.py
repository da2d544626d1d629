"""Generic webhook: the documented JSON, signed with HMAC-SHA256 when the channel has a secret."""

from __future__ import annotations

import json
import time
from typing import Any

from alerting.transports.base import Delivery, post_json, sign


def payload(message: dict[str, Any], notification: Any) -> dict[str, Any]:
    return {
        "version": "1",
        "id": str(notification.uid),
        "kind": notification.kind,
        "status": "resolved" if message["resolved"] else "firing",
        "severity": message["severity"],
        "title": message["title"],
        "text": message["text"],
        "dedup_key": message["dedup_key"],
        "group_key": message.get("group") or "",
        "at": message["at"],
        "fields": dict(message["fields"]),
        "links": [{"text": label, "url": url} for label, url in message["links"]],
        "runbook": message.get("runbook_text") or "",
        "alerts": message.get("alerts", []),
    }


def send(channel: Any, message: dict[str, Any], notification: Any) -> Delivery:
    body = json.dumps(payload(message, notification), separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {"X-Vigil-Event": f"alert.{notification.kind}", "X-Vigil-Delivery": str(notification.uid), "X-Vigil-Timestamp": timestamp}
    if channel.config.get("secret"):
        headers["X-Vigil-Signature"] = "sha256=" + sign(channel.config["secret"], timestamp, body)
    return post_json(channel.config["url"], None, headers=headers, body=body)
