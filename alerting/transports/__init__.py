"""One module per channel kind, each exposing `send(channel, message, notification) -> Delivery`."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from alerting.transports.base import Delivery, TransportError

KINDS = ("slack", "discord", "teams", "pagerduty", "email", "webhook")


def send(channel: Any, message: dict[str, Any], notification: Any) -> Delivery:
    if channel.kind not in KINDS:
        raise TransportError(f"no transport for channel kind {channel.kind!r}", permanent=True)
    module = import_module(f"alerting.transports.{channel.kind}")
    return module.send(channel, message, notification)


__all__ = ["Delivery", "TransportError", "send"]
