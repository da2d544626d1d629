"""SLOs follow their monitors' state changes (a core.events consumer, registered in apps.py).

The minute refresh (slo.refresh_all) keeps every SLO current; this consumer refreshes
the SLOs of a monitor that just went down, degraded or recovered at once, so a fast
burn-rate alert does not wait for the next minute. At most once per SLO every
REFRESH_SECONDS: a storm of state changes costs one refresh per SLO, not one each.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete

from core import events
from core.models import Event
from monitors.services import MONITOR_STATE
from slo import services
from slo.models import SLO

log = logging.getLogger("vigil.slo")
REFRESH_SECONDS = 10
JUDGED_STATES = {"up", "degraded", "down"}
# Which monitors belong to some SLO, read at most every MEMBERS_SECONDS per process: most state
# changes concern no SLO, and a storm should not cost one query each to find that out.
MEMBERS_SECONDS = 10.0
_members: tuple[float, frozenset[int]] = (float("-inf"), frozenset())


def register() -> None:
    """Called from SLOConfig.ready."""
    events.register("slo", topics=[MONITOR_STATE], handle=on_monitor_state)
    # This process forgets its list of SLO monitors as soon as it changes one (others within MEMBERS_SECONDS).
    m2m_changed.connect(_forget_members, sender=SLO.monitors.through, dispatch_uid="slo-members")
    post_delete.connect(_forget_members, sender=SLO, dispatch_uid="slo-members-delete")


def _forget_members(**_: object) -> None:
    global _members
    _members = (float("-inf"), frozenset())


def on_monitor_state(event: Event, now: datetime) -> None:
    if not ({event.payload.get("old"), event.payload.get("new")} & JUDGED_STATES):
        return
    if event.payload["monitor"] not in _monitors_with_slos():
        return
    for slo in SLO.objects.filter(monitors=event.payload["monitor"]).select_related("alert_rule", "component"):
        if _refreshed_lately(slo.pk):
            continue
        services.refresh(slo, now=now)


def _monitors_with_slos() -> frozenset[int]:
    global _members
    read_at, members = _members
    if time.monotonic() - read_at > MEMBERS_SECONDS:
        members = frozenset(SLO.monitors.through.objects.values_list("monitor_id", flat=True))
        _members = (time.monotonic(), members)
    return members


def _refreshed_lately(slo_id: int) -> bool:
    try:
        return not cache.add(f"slo-refreshed:{slo_id}", 1, timeout=REFRESH_SECONDS)
    except Exception as exc:  # noqa: BLE001 - Redis down: refresh anyway, the snapshot is one row per minute
        log.debug("SLO refresh debounce unavailable (%s)", exc)
        return False
