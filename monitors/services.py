"""Writes of the monitoring engine: claim due checks, record results, apply state.

Every write that changes a monitor's state records a StateChange and a monitor.state
event (core.events) in the same transaction; what reacts to it (component status,
auto-incidents, alerts, live pages) are consumers of those events, each in its own
transaction, so a crash never loses a transition and one failing reaction holds back
no other.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models import Count
from django.http import HttpRequest

from core import events
from core.bulk import array_statement, insert_rows, update_rows
from core.egress import allow_for, refuse_outside
from core.metrics import check_results, engine_phase
from core.models import Event
from core.secrets import restore_masked
from core.services import audit_record
from incidents import services as incidents
from incidents.models import Component
from incidents.selectors import component_ids_under_maintenance
from monitors import checkers
from monitors import state as machine
from monitors.bounds import DEFAULT_RETRY_INTERVAL, default_retry_interval
from monitors.checkers import heartbeat as heartbeat_checker
from monitors.checkers import metric as metric_checker
from monitors.checkers import thresholds
from monitors.checkers.base import Result
from monitors.checkers.tcp import split_host_port
from monitors.models import (
    FLAP_WINDOW,
    CheckResult,
    Monitor,
    MonitorRegionState,
    Region,
    StateChange,
    Tag,
    next_slot_after,
    queue_for_region,
    schedule_offset,
)
from monitors.selectors import monitor_ids_under_maintenance

# The event topic of a monitor's state change (core.events); consumers: components, alerting, live.
MONITOR_STATE = "monitor.state"

log = logging.getLogger("vigil.engine")

OUTCOME_CODES = {"ok": CheckResult.Outcome.OK, "degraded": CheckResult.Outcome.DEGRADED, "down": CheckResult.Outcome.DOWN}
DEFAULT_FLAP_THRESHOLD = 6  # state changes within FLAP_WINDOW that mark a monitor flapping
CLAIM_LIMIT = 2000
# Checks per task: each batch pays a task message, a handful of queries and a commit, so larger
# batches cost less per check (50 -> 100: 0.325 -> 0.289 ms CPU per check in-process), while a
# batch's results wait for its slowest check (each bounded by its monitor's timeout).
BATCH_SIZE = 100


@dataclass(frozen=True)
class Checked:
    """One finished check, ready to be recorded."""

    monitor_id: int
    slot: datetime  # the due slot the dispatcher claimed: the idempotency key
    result: Result


def default_region() -> Region:
    region, _ = Region.objects.get_or_create(name=settings.VIGIL_DEFAULT_REGION, defaults={"label": "Default"})
    return region


def policy_for(monitor: Monitor) -> machine.Policy:
    return machine.Policy(retries=monitor.retries, recovery_confirmations=monitor.recovery_confirmations, quorum=monitor.quorum)


# --- Dispatch ---------------------------------------------------------------------------


def region_names_for(monitor_ids: Iterable[int]) -> dict[int, list[str]]:
    through = Monitor.regions.through
    names: dict[int, list[str]] = defaultdict(list)
    for monitor_id, name in through.objects.filter(monitor_id__in=list(monitor_ids)).values_list("monitor_id", "region__name"):
        names[monitor_id].append(name)
    return names


def claim_due(*, now: datetime, limit: int = CLAIM_LIMIT) -> list[tuple[int, datetime, list[str]]]:
    """Claim monitors whose slot has come; move each to its next slot.

    Must run inside a transaction. SELECT ... FOR UPDATE SKIP LOCKED means two
    dispatchers can never claim the same row (SQLite serialises writers instead).
    Returns (monitor id, claimed slot, region names).
    """
    rows = list(
        Monitor.objects.filter(paused=False, next_due_at__lte=now)
        .order_by("next_due_at")
        .select_for_update(skip_locked=True)
        .values_list("id", "next_due_at", "interval_seconds", "kind", "last_ping_at")[:limit]
    )
    if not rows:
        return []
    updates: list[tuple[int, datetime | None]] = []
    claimed = []
    for monitor_id, due, interval, kind, last_ping_at in rows:
        if kind == Monitor.Kind.HEARTBEAT and last_ping_at is None:
            # New (never pinged): no deadline, so never late (a row scheduled before heartbeats knew "new").
            updates.append((monitor_id, None))
            continue
        upcoming = next_slot_after(now, interval, schedule_offset(monitor_id, interval))
        # next_due_at is never null for a claimed row (the filter compares it to now).
        slot = due or now
        if kind != Monitor.Kind.HEARTBEAT:
            # After a pause of the dispatcher (beat restarted, database back) a monitor may have
            # missed several slots: the check runs now, so it is the latest slot that has come,
            # not the first one missed. Recording it at the old slot left the slot that was due
            # at the restart without a result (a skipped check) and dated the check in the past.
            slot = max(slot, upcoming - timedelta(seconds=interval))
        claimed.append((monitor_id, slot))
        updates.append((monitor_id, upcoming))
    _set_next_due(updates)
    regions = region_names_for(monitor_id for monitor_id, _ in claimed)
    default = settings.VIGIL_DEFAULT_REGION
    return [(monitor_id, slot, regions.get(monitor_id) or [default]) for monitor_id, slot in claimed]


def _set_next_due(updates: Sequence[tuple[int, datetime | None]]) -> None:
    """Move the claimed rows to their next slots in one statement (PostgreSQL: UPDATE ... FROM
    unnest(ids, slots)); elsewhere one prepared UPDATE run for every row.

    bulk_update's CASE per row cost the dispatcher more CPU than the claim itself, and the prepared
    UPDATE run 2,000 times was still most of a claim's time (92 to 116 ms of 165 to 195 ms for 2,000 rows,
    in-process, a bench database of 5,000 monitors): one statement per row in the server."""
    if not updates:
        return
    field = Monitor._meta.get_field("next_due_at")
    assert isinstance(field, models.DateTimeField)
    table = connection.ops.quote_name(Monitor._meta.db_table)
    if connection.vendor == "postgresql":
        array_statement(
            f"UPDATE {table} AS t SET next_due_at = v.due FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, due) WHERE t.id = v.id",
            [[monitor_id for monitor_id, _ in updates], [due for _, due in updates]])
        return
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET next_due_at = %s WHERE id = %s",
                           [(field.get_db_prep_save(due, connection), monitor_id) for monitor_id, due in updates])


def reschedule_far_slots(*, now: datetime) -> int:
    """Make due now every monitor whose next slot lies more than one interval ahead.

    That never happens while the clock runs forward (a claim moves a monitor at most one
    interval on); it happens when the clock is stepped back, and would leave a gap as long
    as the step. Heartbeat deadlines come from ping times and are left alone."""
    ahead = (Monitor.objects.filter(paused=False, next_due_at__gt=now).exclude(kind=Monitor.Kind.HEARTBEAT)
             .values_list("id", "next_due_at", "interval_seconds"))
    stale = [monitor_id for monitor_id, due, interval in ahead.iterator(chunk_size=5000)
             if due is not None and due > now + timedelta(seconds=interval)]
    for start in range(0, len(stale), 1000):
        Monitor.objects.filter(pk__in=stale[start:start + 1000]).update(next_due_at=now)
    if stale:
        log.warning("%d monitors were scheduled more than one interval ahead (the clock went back?); due now", len(stale))
    return len(stale)


def dispatch_due(*, now: datetime, limit: int = CLAIM_LIMIT) -> int:
    """Claim due monitors and enqueue their checks in batches per region queue.

    Enqueueing happens inside the claiming transaction: if the broker refuses, the
    claim rolls back and the monitors stay due. If the commit fails after enqueueing,
    the checks run and the next tick claims the same slots again; results are keyed
    by slot, so nothing is stored twice.
    """
    from monitors.tasks import run_check_batch

    with engine_phase("dispatch"), transaction.atomic():
        claimed = claim_due(now=now, limit=limit)
        per_region: dict[str, list[list[object]]] = defaultdict(list)
        for monitor_id, slot, regions in claimed:
            for region in regions:
                per_region[region].append([monitor_id, slot.isoformat()])
        for region, items in per_region.items():
            for start in range(0, len(items), BATCH_SIZE):
                run_check_batch.apply_async(args=[items[start:start + BATCH_SIZE], region], queue=queue_for_region(region))
    return len(claimed)


# --- Results and state --------------------------------------------------------------------


# The columns of a monitor that the engine and the dispatcher write (and a person's pause): read
# again under the row lock when record_results is handed the monitors its checks ran with.
_LIVE_COLUMNS = ["state", "state_since", "state_reason", "is_flapping", "last_checked_at", "last_outcome", "last_latency_ms",
                 "last_status_code", "last_message", "tls_expires_at", "next_due_at", "paused"]


def _locked_monitors(ids: list[int], loaded: Mapping[int, Monitor] | None) -> dict[int, Monitor]:
    """These monitors, their rows locked (in id order, so two writers never wait on each other in a cycle).

    Given the monitors the checks ran with, only the live columns are read again (the rest, settings
    included, stay what the checks used): a batch then costs one model instance per monitor, not two."""
    locked = Monitor.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    if loaded is None or any(pk not in loaded for pk in ids):
        return {m.pk: m for m in locked}
    monitors = {}
    for pk, *values in locked.values_list("pk", *_LIVE_COLUMNS):
        monitor = loaded[pk]
        for name, value in zip(_LIVE_COLUMNS, values, strict=True):
            setattr(monitor, name, value)
        monitors[pk] = monitor
    return monitors


def record_results(*, region_name: str, checked: Sequence[Checked], now: datetime,
                   monitors: Mapping[int, Monitor] | None = None) -> list[StateChange]:
    """Store results and apply them to their monitors' state, in one transaction.

    A result whose slot is not newer than the last one applied for its monitor and
    region (a redelivered batch) is neither stored again nor applied again. `monitors`:
    the instances the checks ran with, if the caller has them (their live columns are
    read again under the lock).
    """
    if not checked:
        return []
    region = Region.objects.filter(name=region_name).first() or Region.objects.get_or_create(name=region_name)[0]
    ids = sorted({item.monitor_id for item in checked})
    with transaction.atomic():
        monitors = _locked_monitors(ids, monitors)
        states = _region_states(monitors, region)
        checked = _hold_breaches(checked, monitors, states, region)
        insert_rows(
            CheckResult, ["monitor", "at", "region", "outcome", "latency_ms", "status_code", "message", "value"],
            [(item.monitor_id, item.slot, region.pk, int(OUTCOME_CODES[item.result.outcome]), item.result.latency_ms, item.result.status_code,
              item.result.message[:200], _measured(item.result)) for item in checked if not _no_verdict(item.result)],
            ignore_conflicts=True,
        )
        regions_of = region_names_for(ids)
        in_maintenance = monitor_ids_under_maintenance(ids)
        recent_changes = _RecentChanges(ids, now)
        changes: list[StateChange] = []
        touched_states: list[MonitorRegionState] = []
        for item in sorted(checked, key=lambda c: (c.monitor_id, c.slot)):
            monitor = monitors.get(item.monitor_id)
            if monitor is None:
                continue  # deleted since it was dispatched
            region_state = states[monitor.pk][region.pk]
            if region_state.last_slot is not None and item.slot <= region_state.last_slot:
                continue
            current_regions = set(regions_of.get(monitor.pk) or [settings.VIGIL_DEFAULT_REGION])
            change = _apply(monitor, region_state, states[monitor.pk], current_regions, item, now, monitor.pk in in_maintenance,
                            recent_changes)
            touched_states.append(region_state)
            if change is not None:
                changes.append(change)
                recent_changes.add(monitor.pk)
        update_rows(
            touched_states,
            ["verdict", "consecutive_down", "consecutive_bad", "consecutive_ok", "consecutive_not_down", "last_slot", "last_message",
             "breach_since", "down_breach_since"],
        )
        update_rows(
            list(monitors.values()),
            ["state", "state_since", "state_reason", "is_flapping", "last_checked_at", "last_outcome", "last_latency_ms",
             "last_status_code", "last_message", "tls_expires_at", "next_due_at"],
        )
        announce(changes)
    _count_results(checked, monitors)
    return changes


def _measured(result: Result) -> float | None:
    """The number a check measured (details["value"], monitors.checkers.thresholds.judged), if any."""
    value = result.details.get("value") if result.details else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def _hold_breaches(checked: Sequence[Checked], monitors: dict[int, Monitor], states: dict[int, dict[int, MonitorRegionState]],
                   region: Region) -> list[Checked]:
    """A threshold breach counts only once it has held for the monitor's warn_for_seconds /
    down_for_seconds in this region (thresholds.hold); results the engine will apply (newer than
    the region's last slot) move the region's breach times, in slot order."""
    held = []
    for item in sorted(checked, key=lambda c: (c.monitor_id, c.slot)):
        monitor = monitors.get(item.monitor_id)
        region_state = states[item.monitor_id].get(region.pk)
        if monitor is None or region_state is None or (region_state.last_slot is not None and item.slot <= region_state.last_slot):
            held.append(item)
            continue
        result, region_state.breach_since, region_state.down_breach_since = thresholds.hold(
            item.result, checkers.judged_settings(monitor.kind, monitor.settings or {}), at=item.slot, breach_since=region_state.breach_since,
            down_breach_since=region_state.down_breach_since)
        held.append(item if result is item.result else replace(item, result=result))
    return held


def _no_verdict(result: Result) -> bool:
    """A metric check's "no data" that its monitor calls unknown (settings.no_data): not stored, no vote."""
    return bool(result.details) and result.details.get("no_data") == "unknown"


def _region_states(monitors: dict[int, Monitor], region: Region) -> dict[int, dict[int, MonitorRegionState]]:
    """Every region state of these monitors (quorum needs the others), creating this region's.

    Only the region states are locked (FOR UPDATE OF the state rows): locking the joined region row
    too made every result write of a region wait for the one before it to commit, one batch at a
    time however many worker processes there were (bench: simulated scale, writers waiting on a lock)."""
    by_monitor: dict[int, dict[int, MonitorRegionState]] = defaultdict(dict)
    for row in MonitorRegionState.objects.select_for_update(of=("self",)).filter(monitor_id__in=list(monitors)).select_related("region"):
        by_monitor[row.monitor_id][row.region_id] = row
    missing = [MonitorRegionState(monitor_id=pk, region=region) for pk in monitors if region.pk not in by_monitor[pk]]
    if missing:
        MonitorRegionState.objects.bulk_create(missing, ignore_conflicts=True)
        for row in MonitorRegionState.objects.filter(monitor_id__in=[m.monitor_id for m in missing], region=region).select_related("region"):
            by_monitor[row.monitor_id][row.region_id] = row
    return by_monitor


class _RecentChanges:
    """State changes per monitor of a batch within FLAP_WINDOW (flapping), read for the whole batch
    when the first of its monitors changes state: most batches change none and skip the query."""

    def __init__(self, ids: list[int], now: datetime) -> None:
        self._ids, self._now = ids, now
        self._counts: dict[int, int] | None = None

    def count(self, monitor_id: int) -> int:
        if self._counts is None:
            self._counts = dict(
                StateChange.objects.filter(monitor_id__in=self._ids, at__gte=self._now - FLAP_WINDOW).values("monitor_id")
                .annotate(n=Count("id")).values_list("monitor_id", "n").order_by()
            )
        return self._counts.get(monitor_id, 0)

    def add(self, monitor_id: int) -> None:
        self._counts = self._counts or {}
        self._counts[monitor_id] = self._counts.get(monitor_id, 0) + 1


def _apply(
    monitor: Monitor,
    region_state: MonitorRegionState,
    all_states: dict[int, MonitorRegionState],
    current_regions: set[str],
    item: Checked,
    now: datetime,
    in_maintenance: bool,
    recent_changes: _RecentChanges,
) -> StateChange | None:
    policy = policy_for(monitor)
    if _no_verdict(item.result):
        # "No data" the monitor chose to call unknown: this region says nothing, and its streaks start again.
        counters = machine.RegionCounters(verdict=machine.UNKNOWN, down_streak=0, bad_streak=0, ok_streak=0, not_down_streak=0)
    else:
        counters = machine.apply_result(
            machine.RegionCounters(
                verdict=region_state.verdict,
                down_streak=region_state.consecutive_down,
                bad_streak=region_state.consecutive_bad,
                ok_streak=region_state.consecutive_ok,
                not_down_streak=region_state.consecutive_not_down,
            ),
            item.result.outcome,
            policy,
        )
    region_state.verdict = counters.verdict
    region_state.consecutive_down = counters.down_streak
    region_state.consecutive_bad = counters.bad_streak
    region_state.consecutive_ok = counters.ok_streak
    region_state.consecutive_not_down = counters.not_down_streak
    region_state.last_slot = item.slot
    region_state.last_message = item.result.message[:300]

    # Only this monitor's current regions vote; a region removed from it no longer counts.
    verdicts = {s.region.name: s.verdict for s in all_states.values() if s.region.name in current_regions}
    new_state, reason = machine.combine(verdicts, policy)
    if new_state == Monitor.State.UNKNOWN and _no_verdict(item.result):
        reason = item.result.message
    if monitor.paused:
        new_state, reason = Monitor.State.PAUSED, "paused"
    elif in_maintenance:
        # Results are still stored (SLOs may count them); the state is not failed.
        new_state, reason = Monitor.State.MAINTENANCE, f"maintenance ({reason})"

    monitor.last_checked_at = now
    monitor.last_outcome = item.result.outcome
    monitor.last_latency_ms = item.result.latency_ms
    monitor.last_status_code = item.result.status_code
    monitor.last_message = item.result.message[:300]
    expires = item.result.details.get("expires_at") if item.result.details else None
    if isinstance(expires, str):
        monitor.tls_expires_at = datetime.fromisoformat(expires)

    # Retries: a failure not yet confirmed is checked again sooner than the interval.
    unconfirmed = item.result.outcome != "ok" and counters.bad_streak < policy.failure_threshold
    recovering = item.result.outcome == "ok" and counters.verdict in ("down", "degraded")
    if (unconfirmed or recovering) and monitor.kind != Monitor.Kind.HEARTBEAT:
        retry_at = now + timedelta(seconds=monitor.retry_interval_seconds)
        if monitor.next_due_at is None or retry_at < monitor.next_due_at:
            monitor.next_due_at = retry_at

    if monitor.is_flapping and monitor.state_since and now - monitor.state_since > FLAP_WINDOW:
        monitor.is_flapping = False
    if new_state == monitor.state:
        if reason != monitor.state_reason and new_state != Monitor.State.UP:
            monitor.state_reason = reason[:300]
        return None
    return _transition(monitor, new_state, reason, all_states, now, recent_changes.count(monitor.pk))


def _transition(
    monitor: Monitor, new_state: str, reason: str, all_states: dict[int, MonitorRegionState], now: datetime, recent: int | None = None
) -> StateChange:
    if recent is None:
        recent = StateChange.objects.filter(monitor=monitor, at__gte=now - FLAP_WINDOW).count()
    threshold = int((monitor.settings or {}).get("flap_threshold", DEFAULT_FLAP_THRESHOLD))
    monitor.is_flapping = recent + 1 >= threshold
    evidence = {
        s.region.name: {
            "verdict": s.verdict,
            "down_streak": s.consecutive_down,
            "ok_streak": s.consecutive_ok,
            "last_message": s.last_message,
        }
        for s in all_states.values()
    }
    change = StateChange(
        monitor=monitor,
        at=now,
        old_state=monitor.state,
        new_state=new_state,
        reason=reason[:300],
        evidence=evidence,
        is_flapping=monitor.is_flapping,
    )
    log.info("monitor %s: %s -> %s (%s)", monitor.name, monitor.state, new_state, reason)
    monitor.state = new_state
    monitor.state_since = now
    monitor.state_reason = reason[:300]
    return change


def announce(changes: Sequence[StateChange]) -> None:
    """Store state changes and their monitor.state events, in the caller's transaction."""
    ids = insert_rows(StateChange, ["monitor", "at", "old_state", "new_state", "reason", "evidence", "is_flapping"],
                      [(change.monitor_id, change.at, change.old_state, change.new_state, change.reason, change.evidence, change.is_flapping)
                       for change in changes], returning=True)
    for change, pk in zip(changes, ids, strict=True):
        change.pk = pk
    events.record_many([
        Event(topic=MONITOR_STATE, key=f"monitor:{change.monitor_id}", at=change.at, payload={
            "monitor": change.monitor_id, "name": change.monitor.name, "component": change.monitor.component_id,
            "old": change.old_state, "new": change.new_state, "reason": change.reason, "state_change": change.pk,
            "flapping": change.is_flapping,
        })
        for change in changes
    ])


def _count_results(checked: Sequence[Checked], monitors: dict[int, Monitor]) -> None:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for item in checked:
        monitor = monitors.get(item.monitor_id)
        counts[(monitor.kind if monitor else "deleted", item.result.outcome)] += 1
    for (kind, outcome), count in counts.items():  # one increment per kind and outcome, not per check
        check_results.labels(kind, outcome).inc(count)


@transaction.atomic
def apply_maintenance(*, component_ids: Iterable[int], now: datetime) -> list[StateChange]:
    """Monitors of these components enter or leave the maintenance state."""
    active = component_ids_under_maintenance()
    changes = []
    for monitor in Monitor.objects.select_for_update().filter(component_id__in=list(component_ids), paused=False).order_by("pk"):
        entering = monitor.component_id in active
        if entering and monitor.state != Monitor.State.MAINTENANCE:
            changes.append(_transition(monitor, Monitor.State.MAINTENANCE, "maintenance window started", {}, now))
        elif not entering and monitor.state == Monitor.State.MAINTENANCE:
            states = {s.region_id: s for s in MonitorRegionState.objects.filter(monitor=monitor).select_related("region")}
            current = set(region_names_for([monitor.pk]).get(monitor.pk) or [settings.VIGIL_DEFAULT_REGION])
            verdicts = {s.region.name: s.verdict for s in states.values() if s.region.name in current}
            new_state, reason = machine.combine(verdicts, policy_for(monitor))
            changes.append(_transition(monitor, new_state, f"maintenance window ended; {reason}", states, now))
        else:
            continue
        monitor.save(update_fields=["state", "state_since", "state_reason", "is_flapping"])
    announce(changes)
    return changes


# --- Components ---------------------------------------------------------------------------------


def components_derive(component_ids: Iterable[int] | None = None) -> dict[int, str]:
    """Each component's status as its monitors say it (incidents.services.derive_status)."""
    rows = Monitor.objects.filter(component__isnull=False)
    if component_ids is not None:
        rows = rows.filter(component_id__in=list(component_ids))
    monitors = list(rows.values_list("pk", "component_id", "state"))
    partly_down = set(
        MonitorRegionState.objects.filter(monitor_id__in=[m[0] for m in monitors], verdict="down").values_list("monitor_id", flat=True)
    )
    by_component: dict[int, list[tuple[str, bool]]] = {pk: [] for pk in component_ids or []}  # no monitors: operational
    for monitor_id, component_id, state in monitors:
        by_component.setdefault(component_id, []).append((state, monitor_id in partly_down))
    return {pk: incidents.derive_status(states) for pk, states in by_component.items()}


def components_refresh(*, component_ids: Iterable[int] | None = None, now: datetime, reason: str = "") -> int:
    """Hand the components' derived status to incidents, which decides what is shown."""
    ids = list(Component.objects.values_list("pk", flat=True)) if component_ids is None else list(component_ids)
    return len(incidents.component_refresh(component_ids=ids, derived=components_derive(ids), now=now, reason=reason))


# --- Monitor lifecycle: the one writer the admin, the API and config import call --------------

# What a person sets. The state fields and next_due_at are the engine's, written with a
# StateChange (or by pausing); a writer holding an older copy of the row never overwrites them.
SETTABLE_FIELDS = ("name", "kind", "target", "settings", "interval_seconds", "timeout_seconds", "retries", "retry_interval_seconds",
                   "recovery_confirmations", "quorum", "component", "heartbeat_period_seconds", "heartbeat_grace_seconds",
                   "heartbeat_schedule", "heartbeat_time_zone")
# Changing one of these moves a heartbeat's deadline.
HEARTBEAT_TIMING_FIELDS = {"kind", "heartbeat_period_seconds", "heartbeat_grace_seconds", "heartbeat_schedule", "heartbeat_time_zone"}
# The reason a heartbeat shows while it waits for its first ping (its state is unknown, shown as "new").
NEW_HEARTBEAT_REASON = "new: waiting for the first ping"
Actor = AbstractBaseUser | AnonymousUser | None


def schedule(monitor: Monitor, *, now: datetime) -> None:
    """Set the first slot of a new or resumed monitor (a heartbeat: its deadline, none while it is new)."""
    if monitor.kind == Monitor.Kind.HEARTBEAT:
        monitor.next_due_at = monitor.heartbeat_deadline(now)
    else:
        monitor.next_due_at = monitor.next_slot_after(now)


def _audit(action: str, monitor: Monitor | None, changes: Mapping[str, Any] | None, *, by: Actor, source: str | None,
           request: HttpRequest | None) -> None:
    if source is not None:  # None: the caller audits (config import records one entry for the whole file)
        audit_record(actor=by, action=action, target=monitor, object_type="monitors.monitor", changes=dict(changes or {}),
                     request=request, source=source)


def _destinations(monitor: Monitor) -> list[tuple[str, str, int]]:
    """(field, host, port) of every address a check of this monitor connects to."""
    kind, target = monitor.kind, monitor.target.strip()
    if kind in (Monitor.Kind.TCP, Monitor.Kind.TLS):
        host, port = split_host_port(target, default_port=443 if kind == Monitor.Kind.TLS else None)
        return [("target", host, port)]
    if kind == Monitor.Kind.DNS:
        resolver = (monitor.settings or {}).get("resolver")
        return [("settings", *split_host_port(str(resolver), default_port=53))] if resolver else []
    if kind == Monitor.Kind.HEARTBEAT:
        return []
    parts = urlsplit(target)  # http, health_json, metric, postgres, redis: a URL
    default_ports = {"https": 443, "http": 80, "postgres": 5432, "postgresql": 5432, "redis": 6379, "rediss": 6379}
    return [("target", parts.hostname, parts.port or default_ports.get(parts.scheme, 80))] if parts.hostname else []


def monitor_refuse_outside_egress(*, monitor: Monitor, by: Actor) -> None:
    """The networks a role may point a monitor at (VIGIL_EGRESS_<ROLE>_ALLOW; admins: any by default)."""
    allow = allow_for(by)
    try:
        destinations = _destinations(monitor)
    except ValueError:  # a target the kind's own validation let through but that names no port: nothing to reach
        return
    for field, host, port in destinations:
        refuse_outside(field=field, allow=allow, host=host, port=port, label=f"monitor '{monitor.name}'")


def _retry_interval_follows(monitor: Monitor, stored: Monitor | None, values: dict[str, Any]) -> bool:
    """Whether the retry interval is the default for the interval (20s, or the interval when
    shorter): asked for with None, not said for a new monitor, or still the default of the old
    interval when only the interval changes. A retry interval someone chose is kept."""
    if "retry_interval_seconds" in values:
        if values["retry_interval_seconds"] is None:
            del values["retry_interval_seconds"]
            return True
        return False
    if stored is None:
        return monitor.pk is None and monitor.retry_interval_seconds == DEFAULT_RETRY_INTERVAL
    return "interval_seconds" in values and stored.retry_interval_seconds == default_retry_interval(stored.interval_seconds)


def _refuse_a_query_prometheus_refuses(monitor: Monitor) -> None:
    """A metric monitor's PromQL, asked of its Prometheus when saved: a query the server cannot
    parse is refused with the server's own words (a server that cannot be reached now is not)."""
    if monitor.kind != Monitor.Kind.METRIC:
        return
    problem = metric_checker.query_problem(monitor)
    if problem:
        raise ValidationError({"settings": f"monitor '{monitor.name}': promql: Prometheus refused the query: {problem}"})


@transaction.atomic
def monitor_upsert(*, monitor: Monitor | None = None, changes: Mapping[str, Any] | None = None, by: Actor = None, now: datetime,
                   audit_source: str | None = None, request: HttpRequest | None = None) -> Monitor:
    """Create or change a monitor: validate, save, schedule, pause or resume, audit.

    `changes` maps SETTABLE_FIELDS, "paused", "regions" (Region rows) and "tags" (names) to new
    values, applied to `monitor` (a new one when None; the admin hands over its form's instance).
    Masked secrets sent back mean the stored ones. Pausing and resuming run the same code as
    monitor_set_paused, so every writer records the same state change.
    """
    monitor = monitor if monitor is not None else Monitor()
    values = dict(changes or {})
    regions, tags = values.pop("regions", None), values.pop("tags", None)
    paused = bool(values.pop("paused", monitor.paused))
    unknown = sorted(set(values) - set(SETTABLE_FIELDS))
    if unknown:
        raise ValueError(f"{unknown[0]}: not a setting of a monitor; settable: {', '.join(SETTABLE_FIELDS)}, paused, regions, tags")
    stored = Monitor.objects.select_for_update().filter(pk=monitor.pk).first() if monitor.pk else None
    if stored is not None and "settings" in values:
        values["settings"] = restore_masked(values["settings"], stored.settings)
    follows_interval = _retry_interval_follows(monitor, stored, values)
    for name, value in values.items():
        setattr(monitor, name, value)
    if follows_interval:
        monitor.retry_interval_seconds = default_retry_interval(monitor.interval_seconds)
    monitor.full_clean()
    if "target" in values or "settings" in values or "kind" in values or stored is None:
        monitor_refuse_outside_egress(monitor=monitor, by=by)
        _refuse_a_query_prometheus_refuses(monitor)
    if stored is None:
        monitor.paused = paused
        if paused:  # nothing ran yet, so no state change: it starts paused
            monitor.state, monitor.state_since, monitor.state_reason, monitor.next_due_at = Monitor.State.PAUSED, now, "paused", None
        if not paused and monitor.kind == Monitor.Kind.HEARTBEAT:
            monitor.state_since, monitor.state_reason = now, NEW_HEARTBEAT_REASON
        monitor.save()
        if not paused:
            schedule(monitor, now=now)  # the slot's offset needs the primary key
            Monitor.objects.filter(pk=monitor.pk).update(next_due_at=monitor.next_due_at)
        monitor.regions.set(regions if regions is not None else [default_region()])
    else:
        monitor.save(update_fields=[*SETTABLE_FIELDS, "updated_at"])
        monitor.refresh_from_db()  # the engine's fields as they are now, under the row lock
        if paused != monitor.paused:
            announce([_set_paused(monitor, paused, now)])
        elif not monitor.paused and (monitor.next_due_at is None
                                     or (monitor.kind == Monitor.Kind.HEARTBEAT and HEARTBEAT_TIMING_FIELDS & set(values))):
            schedule(monitor, now=now)
            Monitor.objects.filter(pk=monitor.pk).update(next_due_at=monitor.next_due_at)
        if regions is not None:
            monitor.regions.set(regions)
    if tags is not None:
        monitor.tags.set([Tag.objects.get_or_create(name=name.lower())[0] for name in tags])
    _audit("update" if stored else "create", monitor, changes, by=by, source=audit_source, request=request)
    return monitor


def _set_paused(monitor: Monitor, paused: bool, now: datetime) -> StateChange:
    """Pause or resume one monitor whose row the caller holds locked; the caller announces the change."""
    new, reason = (Monitor.State.PAUSED, "paused") if paused else (Monitor.State.UNKNOWN, "resumed")
    change = StateChange(monitor=monitor, at=now, old_state=monitor.state, new_state=new, reason=reason)
    monitor.paused = paused
    if paused:
        monitor.next_due_at = None
    else:
        schedule(monitor, now=now)
        MonitorRegionState.objects.filter(monitor=monitor).delete()  # a resumed monitor confirms its state afresh
    monitor.state, monitor.state_since, monitor.state_reason = new, now, reason
    monitor.save(update_fields=["paused", "state", "state_since", "state_reason", "next_due_at"])
    from monitors.pings import forget_token  # pings imports this module

    forget_token(monitor.ping_token)  # other processes see it within the token cache's 30 s
    return change


@transaction.atomic
def monitor_set_paused(*, monitor_ids: Iterable[int], paused: bool, now: datetime, by: Actor = None, audit_source: str | None = None,
                       request: HttpRequest | None = None) -> int:
    """Pause or resume monitors, recording the state change each time."""
    changes = [_set_paused(monitor, paused, now)
               for monitor in Monitor.objects.select_for_update().filter(pk__in=list(monitor_ids), paused=not paused).order_by("pk")]
    announce(changes)
    _audit("pause" if paused else "resume", None, {"count": len(changes)}, by=by, source=audit_source, request=request)
    return len(changes)


@transaction.atomic
def monitor_clone(*, original: Monitor, by: Actor = None, now: datetime, audit_source: str | None = None,
                  request: HttpRequest | None = None) -> Monitor:
    """A paused copy under a free name, to review and resume."""
    name, number = f"{original.name} (copy)", 2
    while Monitor.objects.filter(name=name).exists():
        name, number = f"{original.name} (copy) {number}", number + 1
    fields = {field: getattr(original, field) for field in SETTABLE_FIELDS}
    copy = monitor_upsert(changes={**fields, "name": name, "paused": True, "regions": list(original.regions.all()),
                                   "tags": [tag.name for tag in original.tags.all()]}, by=by, now=now)
    _audit("duplicate", copy, {"from": original.name}, by=by, source=audit_source, request=request)
    return copy


@transaction.atomic
def monitor_delete(*, monitor: Monitor, by: Actor = None, audit_source: str | None = None, request: HttpRequest | None = None) -> None:
    """Delete a monitor with its raw results (they have no database constraint, so no cascade)."""
    from monitors.pings import forget_token  # pings imports this module

    _audit("delete", monitor, None, by=by, source=audit_source, request=request)
    CheckResult.objects.filter(monitor_id=monitor.pk)._raw_delete(CheckResult.objects.db)
    token = monitor.ping_token
    monitor.delete()
    transaction.on_commit(lambda: forget_token(token))


@transaction.atomic
def monitor_check_now(*, monitor_ids: Iterable[int], now: datetime) -> int:
    """Make monitors due now; the next dispatcher tick runs them."""
    return Monitor.objects.filter(pk__in=list(monitor_ids), paused=False).update(next_due_at=now)


# --- Heartbeats -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ping:
    monitor_id: int
    signal: str  # start | success | fail | exit
    exit_code: int | None
    body: str
    at: datetime


def record_pings(*, pings: Sequence[Ping], now: datetime) -> int:
    """Apply heartbeat pings (start, success, fail, exit code) in one transaction."""
    if not pings:
        return 0
    checked: list[Checked] = []
    with transaction.atomic():
        ids = sorted({p.monitor_id for p in pings})
        monitors = {m.pk: m for m in Monitor.objects.select_for_update().filter(pk__in=ids, kind=Monitor.Kind.HEARTBEAT).order_by("pk")}
        previous: dict[int, datetime] = {}
        for ping in sorted(pings, key=lambda p: (p.monitor_id, p.at)):
            monitor = monitors.get(ping.monitor_id)
            if monitor is None or monitor.paused:
                continue
            # Two pings of one check can carry the same microsecond (one server process answers
            # thousands a second); a result is keyed by (monitor, time, region), so the second
            # would be dropped. It is stored a microsecond later instead.
            earlier = previous.get(ping.monitor_id)
            if earlier is not None and ping.at <= earlier:
                ping = replace(ping, at=earlier + timedelta(microseconds=1))
            previous[ping.monitor_id] = ping.at
            if ping.signal == "start":
                monitor.last_start_at = ping.at
                continue
            run_seconds = None
            if monitor.last_start_at and (monitor.last_ping_at is None or monitor.last_start_at > monitor.last_ping_at):
                run_seconds = (ping.at - monitor.last_start_at).total_seconds()
            failed = ping.signal == "fail" or (ping.exit_code is not None and ping.exit_code != 0)
            detail = f"exit code {ping.exit_code}" if ping.exit_code not in (None, 0) else "reported failure"
            snippet = f": {ping.body.strip()[:120]}" if ping.body.strip() else ""
            if failed:
                result = Result("down", message=f"job {detail}{snippet}")
            elif run_seconds is not None:
                result = heartbeat_checker.run_result(run_seconds, monitor.settings or {})
            else:
                result = Result("ok", message="ping")
            if run_seconds is not None:
                result.latency_ms = int(run_seconds * 1000)
                result.details["value"] = run_seconds
            monitor.last_ping_at = ping.at
            monitor.last_run_seconds = run_seconds
            monitor.next_due_at = monitor.heartbeat_deadline(now)
            checked.append(Checked(monitor.pk, ping.at, result))
        Monitor.objects.bulk_update(list(monitors.values()), ["last_start_at", "last_ping_at", "last_run_seconds", "next_due_at"])
        record_results(region_name=settings.VIGIL_DEFAULT_REGION, checked=checked, now=now)
    return len(checked)


def record_ping(*, monitor: Monitor, signal: str, exit_code: int | None, body: str, now: datetime) -> None:
    """One ping, applied at once (the fallback when the ping buffer is unavailable)."""
    record_pings(pings=[Ping(monitor.pk, signal, exit_code, body, now)], now=now)
