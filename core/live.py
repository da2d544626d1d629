"""Push live updates to connected staff pages after a transaction commits."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger("vigil.live")
OPS_GROUP = "ops"


def _send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "live.update", **event})
    except Exception as exc:  # noqa: BLE001 - a live push never breaks the write that caused it
        log.warning("live update to %s not sent: %s", group, exc)


def publish_after_commit(group: str = OPS_GROUP, *, html: str = "", data: dict[str, Any] | None = None) -> None:
    event: dict[str, Any] = {"html": html} if html else {"data": data or {}}
    transaction.on_commit(lambda: _send(group, event))
