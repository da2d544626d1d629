"""Every other notification service through Apprise (Telegram, Matrix, ntfy, Gotify, Pushover,
Opsgenie, SMS gateways ...): the channel's `url` is an Apprise URL.

Apprise has no status codes to classify: a URL it cannot read fails for good (a retry reads the
same URL), a notify() that fails or times out is retried like any receiver's 5xx, and its own
log of the attempt (privacy-masked by Apprise) becomes the notification's last error."""

from __future__ import annotations

import re
from typing import Any

import apprise

from alerting.apprise_urls import AppriseUrlError, service
from alerting.messages import AlertMessage
from alerting.transports.base import Delivery, TransportError

TIMEOUT = 15  # seconds for the whole notify(), retries included
NOTIFY_TYPES = {"critical": apprise.NotifyType.FAILURE, "warning": apprise.NotifyType.WARNING, "info": apprise.NotifyType.INFO}
LOG_PREFIX = re.compile(r"^.*? - (?:DEBUG|INFO|WARNING|ERROR|CRITICAL|DEPRECATION|TRACE) - ")


def body(message: AlertMessage) -> str:
    """Plain text every service can show: the text, the facts, the runbook, the links."""
    parts = [message.text]
    if message.fields:
        parts.append("\n".join(f"{name}: {value}" for name, value in message.fields))
    if message.runbook_text:
        parts.append(f"Runbook: {message.runbook_text}")
    if message.links:
        parts.append("\n".join(f"{label}: {url}" for label, url in message.links))
    parts.append(message.footer)
    return "\n\n".join(part for part in parts if part)


def send(channel: Any, message: AlertMessage, notification: Any) -> Delivery:
    try:
        target = service(channel.config["url"])
    except AppriseUrlError as error:
        raise TransportError(f"channel {channel.name!r}: {error}", permanent=True) from None
    # In memory: Apprise may keep per-service state on disk otherwise, and workers share nothing.
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
    notifier.add(target)
    try:
        result = notifier.notify(body=body(message), title=message.title, body_format=apprise.NotifyFormat.TEXT,
                                 notify_type=apprise.NotifyType.SUCCESS if message.resolved else NOTIFY_TYPES.get(message.severity, apprise.NotifyType.INFO),
                                 timeout=TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not leave the row claimed until its lease runs out
        raise TransportError(f"Apprise ({target.service_name}) raised {exc.__class__.__name__}") from None
    if result:
        return Delivery(None, f"delivered by Apprise ({target.service_name})")
    said = [LOG_PREFIX.sub("", entry.message).strip() for outcome in result.results for entry in outcome.logs()]
    status = "timed out" if result.status == apprise.AppriseResultStatus.TIMEOUT else "failed"
    raise TransportError(f"Apprise ({target.service_name}) {status}: {'; '.join(said[-2:]) or 'no reason given'}")
