"""Generic webhook: the documented JSON, signed with HMAC-SHA256 when the channel has a secret."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from alerting.messages import AlertMessage
from alerting.transports.base import Delivery, post_json, sign


def payload(message: AlertMessage, notification: Any) -> dict[str, Any]:
    return {
        "version": "1",
        "id": str(notification.uid),
        "kind": notification.kind,
        "status": "resolved" if message.resolved else "firing",
        "severity": message.severity,
        "title": message.title,
        "text": message.text,
        "dedup_key": message.dedup_key,
        "group_key": message.group_key,
        "at": message.at,
        "fields": dict(message.fields),
        "links": [{"text": label, "url": url} for label, url in message.links],
        "runbook": message.runbook_text,
        "alerts": [dataclasses.asdict(line) for line in message.alerts],
    }


def send(channel: Any, message: AlertMessage, notification: Any) -> Delivery:
    body = json.dumps(payload(message, notification), separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {"X-Vigil-Event": f"alert.{notification.kind}", "X-Vigil-Delivery": str(notification.uid), "X-Vigil-Timestamp": timestamp}
    if channel.config.get("secret"):
        headers["X-Vigil-Signature"] = "sha256=" + sign(channel.config["secret"], timestamp, body)
    return post_json(channel.config["url"], None, headers=headers, body=body)
