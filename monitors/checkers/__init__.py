"""Check kinds: one module each, one registry line each (see base.py for the interface)."""

from __future__ import annotations

import logging
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

from core.secrets import MissingSecret
from monitors.checkers import dns, health_json, heartbeat, http, metric, postgres, redis_check, tcp, tls
from monitors.checkers.base import CheckSession, Result, down

if TYPE_CHECKING:
    from monitors.models import Monitor

log = logging.getLogger("vigil.checks")

REGISTRY: dict[str, ModuleType] = {
    "http": http,
    "health_json": health_json,
    "tls": tls,
    "tcp": tcp,
    "dns": dns,
    "heartbeat": heartbeat,
    "postgres": postgres,
    "redis": redis_check,
    "metric": metric,
}


def validate_settings(kind: str, target: str, settings: dict[str, Any]) -> dict[str, str]:
    module = REGISTRY.get(kind)
    if module is None:
        return {"kind": f"unknown kind {kind!r}; use one of {', '.join(REGISTRY)}"}
    errors: dict[str, str] = module.validate(target, settings)
    return errors


def judged_settings(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings a kind judges its value with: the monitor's own, plus what the kind fills in
    (a postgres preset's or a redis metric's label, scale, unit and default limits)."""
    fill = getattr(REGISTRY.get(kind), "effective_settings", None)
    return fill(dict(settings)) if fill is not None else dict(settings)  # type: ignore[no-any-return]


# Kinds whose module also has `check_async`: a worker runs a batch of them at once on its session's loop.
ASYNC_KINDS = frozenset(kind for kind, module in REGISTRY.items() if hasattr(module, "check_async"))


def run_check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    """Run one check; a bug in a checker is a failed check with a message, never a crash."""
    try:
        result: Result = REGISTRY[monitor.kind].check(monitor, session, now)
        return result
    except MissingSecret as missing:
        return down(str(missing))
    except Exception as exc:
        log.exception("checker %s failed on monitor %s", monitor.kind, monitor.pk)
        return down(f"internal checker error: {type(exc).__name__}: {exc}")


async def run_check_async(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    """run_check for a kind in ASYNC_KINDS, on the session's loop: the same failures, the same messages."""
    try:
        result: Result = await REGISTRY[monitor.kind].check_async(monitor, session, now)
        return result
    except MissingSecret as missing:
        return down(str(missing))
    except Exception as exc:
        log.exception("checker %s failed on monitor %s", monitor.kind, monitor.pk)
        return down(f"internal checker error: {type(exc).__name__}: {exc}")
