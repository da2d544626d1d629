"""What the monitors app does when events arrive (core.events consumers, registered in apps.py).

- components: a monitor's state changed -> its component's derived status, handed to incidents.
- maintenance: a maintenance window changed -> its components' monitors enter or leave maintenance.
- live: a monitor's state changed -> staff pages on the ops channel group are told.
"""

from __future__ import annotations

from datetime import datetime

from core import events
from core.live import OPS_GROUP, publish_after_commit
from core.models import Event
from incidents.services import MAINTENANCE_CHANGED
from monitors import services
from monitors.services import MONITOR_STATE


def register() -> None:
    """Called from MonitorsConfig.ready."""
    events.register("components", topics=[MONITOR_STATE], handle=on_state_for_components)
    events.register("maintenance", topics=[MAINTENANCE_CHANGED], handle=on_maintenance)
    # Live pushes are best effort and cheap to repeat: one attempt, no retries.
    events.register("live", topics=[MONITOR_STATE], handle=on_state_for_live_pages, max_attempts=1)


def on_state_for_components(event: Event, now: datetime) -> None:
    component_id = event.payload.get("component")
    if component_id is not None:
        services.components_refresh(component_ids=[component_id], now=now, reason=event.payload.get("reason", ""))


def on_maintenance(event: Event, now: datetime) -> None:
    services.apply_maintenance(component_ids=event.payload.get("components", []), now=now)


def on_state_for_live_pages(event: Event, now: datetime) -> None:
    """Staff pages listening on the ops group refetch what changed."""
    publish_after_commit(OPS_GROUP, topics=["monitors", f"monitor-{event.payload['monitor']}"])
