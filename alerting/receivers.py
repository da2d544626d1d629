"""Alerts follow monitor state changes, in the transaction that handles each change once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alerting import services


def on_monitor_state_changed(sender: Any, change: Any, now: datetime, **_: Any) -> None:
    services.on_state_change(monitor=change.monitor, new_state=change.new_state, reason=change.reason, now=change.at)
