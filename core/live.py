"""Tell open pages that something they show changed; they fetch their panels again.

One protocol for every live page (the dashboard, an incident's console, a monitor's page,
public status pages): the browser receives {"type": "changed", "topics": [...]} and
static/js/vigil.js asks again for the htmx panels that show those topics, at most once a
second. No page content travels over the socket, so what a page shows is always what its
view renders, with the same permissions.

Topics: "monitors" and "monitor-<id>", "alerts", "incidents" and "incident-<id>",
"maintenance", "components" (staff pages, group OPS_GROUP), "status" (a status page's group).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger("vigil.live")
OPS_GROUP = "ops"


def changed_message(topics: Iterable[str]) -> dict[str, Any]:
    """What a live page receives: the one message of the protocol."""
    return {"type": "changed", "topics": sorted(set(topics))}


def publish(group: str, *, topics: Iterable[str]) -> bool:
    """Tell the group's open pages now; False when the push could not be sent (pages poll meanwhile)."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        async_to_sync(layer.group_send)(group, {"type": "live.changed", "topics": sorted(set(topics))})
    except Exception as exc:  # noqa: BLE001 - a live push never breaks the write that caused it
        log.warning("live update to %s not sent: %s", group, exc)
        return False
    return True


def publish_after_commit(group: str = OPS_GROUP, *, topics: Iterable[str]) -> None:
    topics = list(topics)
    transaction.on_commit(lambda: publish(group, topics=topics))
