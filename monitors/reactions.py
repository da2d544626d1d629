"""What the monitors app does when events arrive (core.events consumers, registered in apps.py).

- components: a monitor's state changed -> its component's derived status, handed to incidents.
- maintenance: a maintenance window changed -> its components' monitors enter or leave maintenance.
- live: a monitor's state changed -> staff pages on the ops channel group are told.
"""

from __future__ import annotations

from datetime import datetime

from core.live import OPS_GROUP, publish_after_commit
from core.models import Event
from monitors import services


def on_state_for_components(event: Event, now: datetime) -> None:
    component_id = event.payload.get("component")
    if component_id is not None:
        services.components_refresh(component_ids=[component_id], now=now, reason=event.payload.get("reason", ""))


def on_maintenance(event: Event, now: datetime) -> None:
    services.apply_maintenance(component_ids=event.payload.get("components", []), now=now)


def on_state_for_live_pages(event: Event, now: datetime) -> None:
    """Staff pages listening on the ops group refetch what changed."""
    payload = event.payload
    publish_after_commit(OPS_GROUP, data={"type": "monitor", "id": payload["monitor"], "name": payload.get("name", ""),
                                          "old": payload["old"], "new": payload["new"], "reason": payload.get("reason", ""),
                                          "at": event.at.isoformat()})
