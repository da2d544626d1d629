"""What happens after a monitor changes state: incidents, alerts, live pages.

Receivers of `state_changed` run inside the transaction that marks the StateChange
handled, so each change is reacted to exactly once: if a receiver fails, the mark
rolls back and the sweep (monitors.tasks.sweep_state_changes) tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.dispatch import Signal

from core.live import OPS_GROUP, publish_after_commit
from monitors.models import StateChange

log = logging.getLogger("vigil.engine")

# Sent with `change` (a StateChange) and `now`, inside the handling transaction.
state_changed = Signal()


def react_after_commit(change_ids: Sequence[int]) -> None:
    ids = [int(i) for i in change_ids]
    if not ids:
        return

    def enqueue() -> None:
        from monitors.tasks import handle_state_changes

        try:
            handle_state_changes.delay(ids)
        except Exception as exc:  # noqa: BLE001 - broker down: the sweep handles them later
            log.warning("state changes %s not enqueued (%s); the sweep will handle them", ids, exc)

    transaction.on_commit(enqueue)


def handle_state_changes(*, change_ids: Sequence[int] | None, now: datetime, older_than: timedelta | None = None) -> int:
    """Claim unhandled changes (by id, or all older than a delay) and react to each once."""
    handled = 0
    with transaction.atomic():
        rows = StateChange.objects.filter(handled_at__isnull=True).select_related("monitor")
        if change_ids is not None:
            rows = rows.filter(pk__in=list(change_ids))
        if older_than is not None:
            rows = rows.filter(at__lte=now - older_than)
        for change in rows.order_by("at", "pk").select_for_update(skip_locked=True, of=("self",))[:500]:
            state_changed.send(sender=StateChange, change=change, now=now)
            publish_after_commit(OPS_GROUP, data={"type": "monitor", "id": change.monitor_id, "name": change.monitor.name,
                                                  "old": change.old_state, "new": change.new_state, "reason": change.reason,
                                                  "at": change.at.isoformat()})
            change.handled_at = now
            change.save(update_fields=["handled_at"])
            handled += 1
    return handled
