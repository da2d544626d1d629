"""Tell open status pages that their snapshot changed (they fetch the new fragment)."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger("vigil.statuspage")
_last_pushed: dict[str, str] = {}


def status_group(slug: str) -> str:
    return f"status-{slug}"


def push_changed(slug: str, etag: str) -> None:
    if _last_pushed.get(slug) == etag:
        return  # the minute rebuild changed nothing visitors see
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(status_group(slug), {"type": "live.update", "data": {"type": "status", "etag": etag}})
        _last_pushed[slug] = etag
    except Exception as exc:  # noqa: BLE001 - pages keep polling; a push is a courtesy
        log.warning("status page %s change not pushed: %s", slug, exc)
