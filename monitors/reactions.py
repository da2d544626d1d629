"""What the monitors app does when events arrive (core.events consumers, registered in apps.py).

- components: a monitor's state changed -> its component's derived status, handed to incidents.
- maintenance: a maintenance window changed -> its components' monitors enter or leave maintenance.
- live: a monitor's state changed -> staff pages on the ops channel group are told.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core import events
from core.live import OPS_GROUP, publish_after_commit
from core.models import Event
from incidents.models import Component
from incidents.services import MAINTENANCE_CHANGED
from monitors import services
from monitors.services import MONITOR_STATE


def register() -> None:
    """Called from MonitorsConfig.ready."""
    events.register("components", topics=[MONITOR_STATE], handle=on_state_for_components, prepare=lock_components)
    events.register("maintenance", topics=[MAINTENANCE_CHANGED], handle=on_maintenance)
    # Live pushes are best effort and cheap to repeat: one attempt, no retries.
    events.register("live", topics=[MONITOR_STATE], handle=on_state_for_live_pages, max_attempts=1)


def lock_components(chunk: Sequence[Event]) -> None:
    """Lock the chunk's components at once, in id order, before its handlers refresh them one event at a time.

    A chunk is one transaction: refreshed in event order, its component locks were taken in no
    particular order and held to the commit, so a transaction locking several components in id
    order (the periodic refresh of all of them, monitors created in bulk: their foreign keys
    share-lock the components) could deadlock with it (bench: simulated scale, creating 45,000
    monitors while monitors of their components changed state)."""
    ids = {event.payload.get("component") for event in chunk} - {None}
    if ids:
        list(Component.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))


def on_state_for_components(event: Event, now: datetime) -> None:
    component_id = event.payload.get("component")
    if component_id is not None:
        services.components_refresh(component_ids=[component_id], now=now, reason=event.payload.get("reason", ""))


def on_maintenance(event: Event, now: datetime) -> None:
    services.apply_maintenance(component_ids=event.payload.get("components", []), now=now)


def on_state_for_live_pages(event: Event, now: datetime) -> None:
    """Staff pages listening on the ops group refetch what changed."""
    publish_after_commit(OPS_GROUP, topics=["monitors", f"monitor-{event.payload['monitor']}"])
