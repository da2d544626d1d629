"""Events and their consumers: how one app's change makes another app react.

A writer records an event in the transaction of the change it announces
(`record`). Each consumer (auto-incidents, alerting, status pages, live pages, ...)
registers the topics it reads from its own AppConfig.ready and keeps its own cursor.
It handles a chunk of events in one transaction together with moving its cursor, so a crash
(even kill -9) neither loses nor repeats an event: the chunk in one savepoint, and only when a
handler fails, again with each event in its own savepoint, so a failure rolls back alone.

An event a consumer fails on is retried with backoff; after `max_attempts` it is
quarantined and the consumer moves on. While an event waits for a retry, the later
events with the same key wait behind it (each monitor's events stay in order); every
other key goes on, so one bad event never holds back another monitor's alert. The
operations page, /metrics and `manage.py events` show what failed; `retry` runs it again.

Commit order equals id order: on PostgreSQL writers take a transaction-scoped advisory
lock just before inserting events (held until commit), so a consumer that has seen
event N never finds an older id appearing later. SQLite serialises writers anyway.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import connection, transaction

from core.bulk import insert_rows
from core.models import Event, EventCursor, EventFailure

log = logging.getLogger("vigil.events")

# pg_advisory_xact_lock key that orders event commits ("vigil-ev" as an integer).
COMMIT_ORDER_LOCK = 0x7669_6769_6C2D_6576
BACKOFF = (timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10))
PAGE = 200
CHUNK = 50  # events handled per transaction

Handler = Callable[[Event, datetime], None]
# Called once per chunk of events, in its transaction before the first handler: to read at once what
# the handlers would read one event at a time. What it returns, handlers of that chunk get from
# prepared(); a failure only costs that: prepared() is None and the handlers read as usual.
Preparer = Callable[[Sequence[Event]], Any]
_prepared: ContextVar[Any] = ContextVar("vigil_events_prepared", default=None)


def prepared() -> Any:
    """What the consumer's prepare returned for the chunk being handled (None outside one, and for
    an event handled alone: a retry)."""
    return _prepared.get()


@dataclass(frozen=True)
class Consumer:
    name: str
    topics: frozenset[str]
    handle: Handler
    max_attempts: int = 5
    prepare: Preparer | None = None


_consumers: dict[str, Consumer] = {}


def register(name: str, *, topics: Iterable[str], handle: Handler, max_attempts: int = 5, prepare: Preparer | None = None) -> None:
    """Called from an AppConfig.ready: `handle(event, now)` runs inside the event's transaction (a
    savepoint); `prepare(events)`, when given, first for each chunk of events (see Preparer)."""
    _consumers[name] = Consumer(name=name, topics=frozenset(topics), handle=handle, max_attempts=max_attempts, prepare=prepare)


def consumers() -> list[Consumer]:
    return sorted(_consumers.values(), key=lambda c: c.name)


def consumer(name: str) -> Consumer:
    try:
        return _consumers[name]
    except KeyError:
        raise LookupError(f"no event consumer named {name!r}; known: {', '.join(sorted(_consumers)) or 'none'}") from None


# --- Writing ----------------------------------------------------------------------------------


def record(topic: str, *, key: str, payload: dict[str, Any], at: datetime) -> None:
    record_many([Event(topic=topic, key=key, payload=payload, at=at)])


def record_many(events: Sequence[Event]) -> None:
    """Insert events in the caller's transaction; consumers are woken after it commits."""
    if not events:
        return
    if not connection.in_atomic_block:
        raise RuntimeError("events are recorded inside the transaction of the change they announce")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [COMMIT_ORDER_LOCK])
    insert_rows(Event, ["topic", "key", "payload", "at"], [(event.topic, event.key, event.payload, event.at) for event in events])
    topics = {event.topic for event in events}
    transaction.on_commit(lambda: wake(topics))


def wake(topics: Iterable[str]) -> None:
    """Queue a run of every consumer of these topics (beat runs them every few seconds anyway)."""
    from core.tasks import queue_consumer_run

    wanted = set(topics)
    for item in consumers():
        if item.topics & wanted:
            queue_consumer_run(item.name)


# --- Consuming --------------------------------------------------------------------------------


def run(name: str, *, now: datetime, seconds: float = 20.0) -> int:
    """Handle what is due for one consumer: retries first, then new events. Returns events handled."""
    item = consumer(name)
    handled = _retry_due(item, now)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        position, page = _next_page(item)
        if not page:
            break
        held_back = set(EventFailure.objects.filter(consumer=name, state__in=_HOLDING).values_list("key", flat=True))
        for start in range(0, len(page), CHUNK):
            chunk = page[start:start + CHUNK]
            outcome = _consume_chunk(item, position, chunk, held_back, now)
            if outcome is None:
                return handled  # another runner holds this consumer's cursor
            handled += outcome
            position = chunk[-1].pk
    return handled


def drain(*, now: datetime, names: Iterable[str] | None = None) -> int:
    """Run consumers until nothing is pending (tests, `manage.py events run`)."""
    total = 0
    for _ in range(100):
        round_total = sum(run(name, now=now) for name in (names or [c.name for c in consumers()]))
        total += round_total
        if not round_total:
            break
    return total


_HOLDING = (EventFailure.State.RETRYING, EventFailure.State.WAITING)


def _next_page(item: Consumer) -> tuple[int, list[Event]]:
    """The cursor's position and the events after it."""
    position = EventCursor.objects.filter(consumer=item.name).values_list("position", flat=True).first()
    if position is None:  # a new consumer starts at the beginning of the log
        EventCursor.objects.bulk_create([EventCursor(consumer=item.name)], ignore_conflicts=True)
        position = 0
    return position, list(Event.objects.filter(pk__gt=position, topic__in=item.topics).order_by("pk")[:PAGE])


def _consume_chunk(item: Consumer, position: int, chunk: list[Event], held_back: set[str], now: datetime) -> int | None:
    """Events in one transaction with the cursor (together in one savepoint, or when a handler fails each
    in its own): handled, or parked when its handler fails (its savepoint rolled back, the others kept). Returns how many were handled, or None
    when another runner moved the cursor since it was read (this run stops and leaves the rest to it).

    One commit per chunk instead of one per event: a storm of state changes (every monitor down at
    once) costs each consumer a commit per CHUNK events (bench: every check changes state). A crash
    still loses and repeats nothing: the chunk's handling and the cursor commit together."""
    with transaction.atomic():
        if not _advance_from(item.name, position, chunk[-1].pk, now):
            return None
        ready = None
        if item.prepare is not None:
            try:
                with transaction.atomic():
                    ready = item.prepare([event for event in chunk if event.key not in held_back])
            except Exception as exc:  # noqa: BLE001 - preparing is an optimisation; the handlers read what they need
                log.warning("consumer %s could not prepare events #%s-#%s: %s", item.name, chunk[0].pk, chunk[-1].pk, exc)
        token = _prepared.set(ready)
        try:
            at_once = _handle_together(item, chunk, held_back, now)
            if at_once is not None:
                return at_once
            handled = 0
            for event in chunk:
                if event.key in held_back:
                    EventFailure.objects.create(consumer=item.name, event=event, key=event.key, state=EventFailure.State.WAITING)
                    continue
                error = _attempt(item, event, now)
                if error is None:
                    handled += 1
                    continue
                _park(item, event, error, now)
                held_back.add(event.key)
        finally:
            _prepared.reset(token)
    return handled


def _handle_together(item: Consumer, chunk: list[Event], held_back: set[str], now: datetime) -> int | None:
    """Every event of the chunk in one savepoint: how many were handled, or None when a handler failed
    (then nothing of the chunk is kept, and the caller handles it again one savepoint per event, which
    parks just the failing one).

    Two savepoint statements per event and consumer cost more than most handlers (a state change
    reaches four consumers: eight round trips to the database; bench: every check changes state);
    handlers almost never fail, so a chunk pays for savepoints only when one does."""
    try:
        with transaction.atomic():
            handled = 0
            for event in chunk:
                if event.key in held_back:
                    EventFailure.objects.create(consumer=item.name, event=event, key=event.key, state=EventFailure.State.WAITING)
                    continue
                item.handle(event, now)
                handled += 1
            return handled
    except Exception as exc:  # noqa: BLE001 - handled again event by event, where each failure is recorded
        log.debug("consumer %s: a handler failed in events #%s-#%s (%s); handling them one at a time", item.name, chunk[0].pk,
                  chunk[-1].pk, exc)
        return None


def _advance_from(name: str, position: int, event_id: int, now: datetime) -> bool:
    """Move the cursor from where this run read it onto event_id; False when another runner moved it
    meanwhile (the UPDATE waits for that runner's commit, then finds another position)."""
    return EventCursor.objects.filter(consumer=name, position=position).update(position=event_id, updated_at=now) == 1


def _advance(name: str, event_id: int, now: datetime) -> bool:
    """Move the cursor onto this event. The UPDATE locks the cursor row until commit, so a second
    runner waits here and then finds the cursor past the event: no event is handled twice."""
    return EventCursor.objects.filter(consumer=name, position__lt=event_id).update(position=event_id, updated_at=now) == 1


def _attempt(item: Consumer, event: Event, now: datetime) -> str | None:
    """Run the handler in a savepoint; return the error text when it fails."""
    try:
        with transaction.atomic():
            item.handle(event, now)
    except Exception as exc:  # noqa: BLE001 - any failure of a reaction is recorded, never lost
        log.warning("consumer %s failed on event #%s (%s %s): %s", item.name, event.pk, event.topic, event.key, exc)
        return _describe(exc)
    return None


def _describe(exc: BaseException) -> str:
    """The error as staff read it: type, message and the line that raised it."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    where = f" (at {'/'.join(Path(frames[-1].filename).parts[-2:])}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"[:2000]


def _park(item: Consumer, event: Event, error: str, now: datetime) -> None:
    quarantined = item.max_attempts <= 1
    EventFailure.objects.create(
        consumer=item.name, event=event, key=event.key, attempts=1, first_failed_at=now, last_failed_at=now, last_error=error,
        state=EventFailure.State.QUARANTINED if quarantined else EventFailure.State.RETRYING,
        next_attempt_at=None if quarantined else now + BACKOFF[0],
    )


def _retry_due(item: Consumer, now: datetime) -> int:
    handled = 0
    due = list(
        EventFailure.objects.filter(consumer=item.name, state=EventFailure.State.RETRYING, next_attempt_at__lte=now)
        .order_by("event_id").values_list("pk", flat=True)[:PAGE]
    )
    for failure_id in due:
        handled += _retry_one(item, failure_id, now)
    return handled


def _retry_one(item: Consumer, failure_id: int, now: datetime, *, by_staff: bool = False) -> int:
    with transaction.atomic():
        failure = EventFailure.objects.select_for_update(skip_locked=True).select_related("event").filter(pk=failure_id).first()
        if failure is None or (failure.state == EventFailure.State.WAITING):
            return 0
        error = _attempt(item, failure.event, now)
        if error is None:
            key = failure.key
            failure.delete()
            released = _release_waiting(item, key, now)
            return 1 + released
        failure.attempts += 1
        failure.last_failed_at = now
        failure.last_error = error
        if failure.attempts >= item.max_attempts or (by_staff and failure.state == EventFailure.State.QUARANTINED):
            failure.state = EventFailure.State.QUARANTINED
            failure.next_attempt_at = None
            log.error("consumer %s quarantined event #%s after %s attempts: %s", item.name, failure.event_id, failure.attempts, error)
        else:
            failure.next_attempt_at = now + BACKOFF[min(failure.attempts - 1, len(BACKOFF) - 1)]
        failure.save()
        if failure.state == EventFailure.State.QUARANTINED:
            return _release_waiting(item, failure.key, now)
        return 0


def _release_waiting(item: Consumer, key: str, now: datetime) -> int:
    """The failure holding this key is gone or quarantined: handle the events waiting behind it, in order."""
    if EventFailure.objects.filter(consumer=item.name, key=key, state=EventFailure.State.RETRYING).exists():
        return 0
    handled = 0
    for failure in EventFailure.objects.filter(consumer=item.name, key=key, state=EventFailure.State.WAITING).select_related("event"):
        error = _attempt(item, failure.event, now)
        if error is not None:
            failure.state = EventFailure.State.RETRYING
            failure.attempts = 1
            failure.first_failed_at = failure.last_failed_at = now
            failure.last_error = error
            failure.next_attempt_at = now + BACKOFF[0]
            failure.save()
            break
        failure.delete()
        handled += 1
    return handled


# --- Staff actions and reading ----------------------------------------------------------------


def retry(*, failure_ids: Iterable[int], now: datetime) -> tuple[int, int]:
    """Run quarantined (or retrying) events again now. Returns (handled, still failing)."""
    handled = failed = 0
    for failure in EventFailure.objects.filter(pk__in=list(failure_ids)).exclude(state=EventFailure.State.WAITING):
        result = _retry_one(consumer(failure.consumer), failure.pk, now, by_staff=True)
        if result:
            handled += 1
        else:
            failed += 1
    return handled, failed


@dataclass(frozen=True)
class ConsumerStatus:
    name: str
    topics: tuple[str, ...]
    position: int
    pending: int
    retrying: int
    waiting: int
    quarantined: int


def status() -> list[ConsumerStatus]:
    """Per consumer: where it stands and what it holds back (operations page, /metrics)."""
    positions = dict(EventCursor.objects.values_list("consumer", "position"))
    counts: dict[tuple[str, str], int] = {}
    for name, state in EventFailure.objects.values_list("consumer", "state"):
        counts[(name, state)] = counts.get((name, state), 0) + 1
    rows = []
    for item in consumers():
        position = positions.get(item.name, 0)
        rows.append(ConsumerStatus(
            name=item.name, topics=tuple(sorted(item.topics)), position=position,
            pending=Event.objects.filter(pk__gt=position, topic__in=item.topics).count(),
            retrying=counts.get((item.name, EventFailure.State.RETRYING), 0),
            waiting=counts.get((item.name, EventFailure.State.WAITING), 0),
            quarantined=counts.get((item.name, EventFailure.State.QUARANTINED), 0),
        ))
    return rows


def start_new_consumers(**_: Any) -> None:
    """After migrate: a consumer added by an upgrade starts at the end of the log, not a week back
    (it would replay old changes). A cursor missing at run time starts at the beginning."""
    end = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    EventCursor.objects.bulk_create([EventCursor(consumer=c.name, position=end) for c in consumers()], ignore_conflicts=True)


def prune(*, now: datetime, keep: timedelta = timedelta(days=7)) -> int:
    """Delete events every consumer has read, older than `keep`, that no failure refers to."""
    positions = [c.position for c in EventCursor.objects.filter(consumer__in=[c.name for c in consumers()])]
    if len(positions) < len(consumers()):
        return 0
    below = min(positions, default=0)
    deleted, _ = Event.objects.filter(pk__lte=below, at__lt=now - keep).exclude(failures__isnull=False).delete()
    return deleted
