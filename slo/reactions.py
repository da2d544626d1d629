"""SLOs follow their monitors' state changes (a core.events consumer, registered in apps.py).

The minute refresh (slo.refresh_all) keeps every SLO current; this consumer refreshes
the SLOs of a monitor that just went down, degraded or recovered at once, so a fast
burn-rate alert does not wait for the next minute. At most once per SLO every
REFRESH_SECONDS: a storm of state changes costs one refresh per SLO, not one each.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.cache import cache

from core import events
from core.models import Event
from monitors.services import MONITOR_STATE
from slo import services
from slo.models import SLO

log = logging.getLogger("vigil.slo")
REFRESH_SECONDS = 10
JUDGED_STATES = {"up", "degraded", "down"}


def register() -> None:
    """Called from SLOConfig.ready."""
    events.register("slo", topics=[MONITOR_STATE], handle=on_monitor_state)


def on_monitor_state(event: Event, now: datetime) -> None:
    if not ({event.payload.get("old"), event.payload.get("new")} & JUDGED_STATES):
        return
    for slo in SLO.objects.filter(monitors=event.payload["monitor"]).select_related("alert_rule", "component"):
        if _refreshed_lately(slo.pk):
            continue
        services.refresh(slo, now=now)


def _refreshed_lately(slo_id: int) -> bool:
    try:
        return not cache.add(f"slo-refreshed:{slo_id}", 1, timeout=REFRESH_SECONDS)
    except Exception as exc:  # noqa: BLE001 - Redis down: refresh anyway, the snapshot is one row per minute
        log.debug("SLO refresh debounce unavailable (%s)", exc)
        return False
