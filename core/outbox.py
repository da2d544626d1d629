"""The outbox everything Vigil sends goes through: alert notifications, subscriber mail and
subscriber webhooks.

A row is written in the transaction that decides something must be sent, so nothing is lost
and nothing goes out for a decision that rolled back. A worker claims due rows under a lease
(`claim_due`), sends each one (`send`) and records on the row what came of it: the attempt,
the receiver's status code, the last error. A temporary failure waits (the receiver's
Retry-After, else a capped exponential backoff) and is tried again; a permanent one, or the
last attempt, stops for good. A worker that dies mid-send leaves its row `sending`: once the
lease runs out another worker claims it and sends it again under the same id, by which
receivers drop the repeat.

What to send and where belongs to the row's own app (alerting, statuspage); this module only
knows how a row travels. It imports nothing above core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q

from lib.delivery import TransportError

__all__ = ["ContentError", "OutboxRow", "Outcome", "TransportError", "claim_due", "lease", "send"]


class ContentError(TransportError):
    """The message could not be sent because of what Vigil put in it (a header it could not
    build, a template that failed), not because of the receiver: it fails for good at once
    (a retry sends the same content) and never counts against the receiver."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class OutboxRow(models.Model):
    """The delivery state every outbox row carries. Subclasses add what is sent and to whom,
    and may change the retry schedule below."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    # Sends started, counted when a worker claims the row: a row whose sender keeps dying
    # runs out of attempts like one whose receiver keeps failing.
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # When the current sender claimed it; its lease runs out `lease()` later.
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    # The retry schedule: the first retry waits `first_retry`, each later one twice as long
    # up to `longest_wait`; the row fails after `max_attempts` sends.
    max_attempts: ClassVar[int] = 8
    first_retry: ClassVar[timedelta] = timedelta(seconds=30)
    longest_wait: ClassVar[timedelta] = timedelta(hours=1)

    class Meta:
        abstract = True

    @classmethod
    def backoff(cls, attempts: int) -> timedelta:
        """How long to wait after the `attempts`-th send failed for a while."""
        doubled = cls.first_retry.total_seconds() * 2 ** min(max(attempts - 1, 0), 30)
        return timedelta(seconds=min(doubled, cls.longest_wait.total_seconds()))


def lease() -> timedelta:
    """How long a claim holds before the row counts as abandoned by a dead worker."""
    return timedelta(seconds=settings.VIGIL_DELIVERY_LEASE_SECONDS)


def claim_due(model: type[OutboxRow], *, now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` rows whose time has come, and rows whose sender's lease ran out.

    The rows are locked as they are read and rows another worker holds locked are skipped, so
    two workers never claim the same row (SQLite takes its write lock up front instead)."""
    due = Q(status=OutboxRow.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=OutboxRow.Status.SENDING, claimed_at__lt=now - lease())
    with transaction.atomic():
        ids = list(model._default_manager.select_for_update(skip_locked=True).filter(due)
                   .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
        model._default_manager.filter(pk__in=ids).update(status=OutboxRow.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    return ids


@dataclass(frozen=True)
class Outcome:
    """What one send came to: "sent", "retry" (a temporary failure; it waits) or "failed"
    (for good), with the receiver's status code and the error a person reads."""

    result: str
    code: int | None = None
    error: str = ""
    # False when the failure was Vigil's own doing (ContentError): the receiver is not to blame.
    receiver_at_fault: bool = True

    @property
    def final(self) -> bool:
        return self.result != "retry"


def send(row: OutboxRow, transmit: Callable[[], int | None], *, now: datetime) -> Outcome | None:
    """Send one claimed row with `transmit` and record the outcome on it.

    `transmit` sends and returns the receiver's status code (None when it has none, as for
    mail), or raises TransportError saying whether a retry could help. None when the row is
    not claimed (never claimed, or already done): it is never sent twice from here."""
    if row.status != OutboxRow.Status.SENDING:
        return None
    if row.attempts > row.max_attempts:
        failure = TransportError(f"no worker finished sending it in {row.max_attempts} attempts; each stopped mid-send", permanent=True)
    else:
        try:
            code = transmit()
        except TransportError as raised:
            failure = raised
        else:
            _record(row, status=OutboxRow.Status.SENT, sent_at=now, response_code=code, last_error="")
            return Outcome("sent", code)
    final = failure.permanent or row.attempts >= row.max_attempts
    wait = timedelta(seconds=failure.retry_after) if failure.retry_after else row.backoff(row.attempts)
    message = str(failure)[:300]
    _record(row, status=OutboxRow.Status.FAILED if final else OutboxRow.Status.PENDING, next_attempt_at=now + wait,
            response_code=failure.code, last_error=message)
    return Outcome("failed" if final else "retry", failure.code, message, receiver_at_fault=not isinstance(failure, ContentError))


def _record(row: OutboxRow, **fields: Any) -> None:
    # Only while this claim still holds: a sender that outlived its lease (the row has been
    # claimed again meanwhile) must not overwrite what the new sender records.
    fields["claimed_at"] = None
    held = type(row)._default_manager.filter(pk=row.pk, status=OutboxRow.Status.SENDING, claimed_at=row.claimed_at)
    if held.update(**fields):
        for name, value in fields.items():
            setattr(row, name, value)
