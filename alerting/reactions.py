"""Alerts follow monitor state changes, and incidents page through the severity policy
(core.events consumers, registered in apps.py)."""

from __future__ import annotations

import threading
from datetime import datetime

from django.db import transaction

from alerting import services
from alerting.models import AlertRule
from core import events
from core.models import Event
from incidents.services import INCIDENT_CHANGED, STAKEHOLDER_UPDATE
from monitors.models import Monitor
from monitors.services import MONITOR_STATE


def register() -> None:
    """Called from AlertingConfig.ready."""
    events.register("alerting", topics=[MONITOR_STATE], handle=on_monitor_state)
    events.register("incident-paging", topics=[INCIDENT_CHANGED], handle=on_incident_changed)
    events.register("stakeholder-updates", topics=[STAKEHOLDER_UPDATE], handle=on_stakeholder_update)


def on_monitor_state(event: Event, now: datetime) -> None:
    monitor = Monitor.objects.filter(pk=event.payload["monitor"]).first()
    if monitor is None:
        return  # deleted since: nothing to alert about
    services.on_state_change(monitor=monitor, new_state=event.payload["new"], reason=event.payload.get("reason", ""), now=event.at,
                             rules=_rules_of_this_transaction())


class _RulesRead:
    """The enabled rules, read once for the events handled in one transaction (core.events handles a
    chunk of events per transaction): four queries per state change saved in a storm."""

    def __init__(self) -> None:
        self.rules = services.enabled_rules()

    def __call__(self) -> None:
        """The on-commit hook that marks this read as belonging to the open transaction; nothing to do."""


_local = threading.local()


def _rules_of_this_transaction() -> list[AlertRule] | None:
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return None  # rules_for reads them
    read: _RulesRead | None = getattr(_local, "rules", None)
    # Valid while its hook is registered: not once that transaction ended or the savepoint that read them rolled back.
    if read is None or not any(hook[1] is read for hook in connection.run_on_commit):
        read = _local.rules = _RulesRead()
        transaction.on_commit(read)
    return read.rules


def on_incident_changed(event: Event, now: datetime) -> None:
    services.incident_page(incident_id=event.payload["incident"], now=now)


def on_stakeholder_update(event: Event, now: datetime) -> None:
    services.stakeholder_notify(update_id=event.payload["stakeholder_update"], now=now)
