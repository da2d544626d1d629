"""One module per channel kind, each exposing `send(channel, message, notification) -> Delivery`
with `message` an AlertMessage."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from alerting.messages import AlertMessage
from alerting.transports.base import Delivery, TransportError

KINDS = ("slack", "discord", "teams", "pagerduty", "email", "webhook", "apprise")


def send(channel: Any, message: AlertMessage | dict[str, Any], notification: Any) -> Delivery:
    """Send through the channel's transport; a message as stored on the Notification row is read back here."""
    if channel.kind not in KINDS:
        raise TransportError(f"no transport for channel kind {channel.kind!r}", permanent=True)
    if not isinstance(message, AlertMessage):
        message = AlertMessage.from_dict(message)
    module = import_module(f"alerting.transports.{channel.kind}")
    return module.send(channel, message, notification)


__all__ = ["Delivery", "TransportError", "send"]
