"""The one outbox (core.outbox), through both kinds of row it carries: alert notifications and
status page subscriber deliveries. A claim is exclusive, a temporary failure backs off (or
waits for Retry-After), a permanent one stops, and a row a dead worker left behind is sent
again under the same id once its lease runs out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from alerting.models import Channel, Notification
from core import outbox
from core.outbox import OutboxRow, TransportError
from statuspage.models import StatusPage, Subscriber, SubscriberDelivery, SubscriberEvent

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_notification(due: datetime) -> Notification:
    channel, _ = Channel.objects.get_or_create(name="hook", kind="webhook", config={"url": "http://127.0.0.1:9/hook"})
    return Notification.objects.create(channel=channel, kind=Notification.Kind.TEST, message={"title": "Test"},
                                       next_attempt_at=due, created_at=NOW)


def make_subscriber_delivery(due: datetime) -> SubscriberDelivery:
    page, _ = StatusPage.objects.get_or_create(slug="main", defaults={"title": "Main"})
    subscriber = Subscriber.objects.create(page=page, kind=Subscriber.Kind.WEBHOOK, email="ops@example.com",
                                           webhook_url="http://127.0.0.1:9/hook", confirmed_at=NOW)
    event = SubscriberEvent.objects.create(key=f"update:{subscriber.pk}", kind="incident.update", created_at=NOW)
    return SubscriberDelivery.objects.create(subscriber=subscriber, event=event, next_attempt_at=due)


@dataclass
class RowKind:
    model: type[OutboxRow]
    make: Callable[[datetime], OutboxRow]
    # What receivers see as the delivery id (X-Vigil-Delivery): the same on every attempt.
    delivery_id: Callable[[OutboxRow], str]


KINDS = {
    "notification": RowKind(Notification, make_notification, lambda row: str(row.uid)),  # type: ignore[attr-defined]
    "subscriber delivery": RowKind(SubscriberDelivery, make_subscriber_delivery, lambda row: str(row.pk)),
}


@pytest.fixture(params=list(KINDS), ids=list(KINDS))
def kind(request: pytest.FixtureRequest) -> RowKind:
    return KINDS[request.param]


class Receiver:
    """Stands in for a transport: notes the delivery id of each send and answers as told."""

    def __init__(self, kind: RowKind) -> None:
        self.kind = kind
        self.seen: list[str] = []

    def answering(self, row: OutboxRow, answer: int | TransportError) -> Callable[[], int | None]:
        def transmit() -> int | None:
            self.seen.append(self.kind.delivery_id(row))
            if isinstance(answer, TransportError):
                raise answer
            return answer

        return transmit


def claim_one(kind: RowKind, now: datetime) -> OutboxRow | None:
    claimed = outbox.claim_due(kind.model, now=now, limit=10)
    assert len(claimed) <= 1
    return kind.model.objects.get(pk=claimed[0]) if claimed else None


def test_a_due_row_is_claimed_once_and_only_a_claimed_row_is_sent(kind: RowKind) -> None:
    due, later = kind.make(NOW), kind.make(NOW + timedelta(hours=1))
    assert outbox.claim_due(kind.model, now=NOW, limit=10) == [due.pk]
    assert outbox.claim_due(kind.model, now=NOW, limit=10) == []  # a second worker finds nothing
    due.refresh_from_db()
    assert (due.status, due.attempts, due.claimed_at) == ("sending", 1, NOW)
    receiver = Receiver(kind)
    assert outbox.send(later, receiver.answering(later, 200), now=NOW) is None
    assert receiver.seen == []
    later.refresh_from_db()
    assert (later.status, later.attempts) == ("pending", 0)


def test_a_temporary_failure_waits_longer_each_time_and_honours_retry_after(kind: RowKind) -> None:
    row = kind.make(NOW)
    receiver = Receiver(kind)
    first = kind.model.first_retry
    claimed = claim_one(kind, NOW)
    assert claimed is not None
    outcome = outbox.send(claimed, receiver.answering(claimed, TransportError("the receiver answered HTTP 500", code=500)), now=NOW)
    assert outcome == outbox.Outcome("retry", 500, "the receiver answered HTTP 500")
    row.refresh_from_db()
    assert (row.status, row.attempts, row.response_code, row.claimed_at) == ("pending", 1, 500, None)
    assert row.next_attempt_at == NOW + first
    assert claim_one(kind, NOW + first - timedelta(seconds=1)) is None  # not before its time

    second_try = NOW + first
    claimed = claim_one(kind, second_try)
    assert claimed is not None
    outbox.send(claimed, receiver.answering(claimed, TransportError("the receiver answered HTTP 503", code=503)), now=second_try)
    row.refresh_from_db()
    assert row.next_attempt_at == second_try + 2 * first  # twice as long

    third_try = row.next_attempt_at
    claimed = claim_one(kind, third_try)
    assert claimed is not None
    busy = TransportError("the receiver answered HTTP 429", code=429, retry_after=90)
    outbox.send(claimed, receiver.answering(claimed, busy), now=third_try)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 3, third_try + timedelta(seconds=90))

    fourth_try = row.next_attempt_at
    claimed = claim_one(kind, fourth_try)
    assert claimed is not None
    assert outbox.send(claimed, receiver.answering(claimed, 200), now=fourth_try) == outbox.Outcome("sent", 200)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.response_code, row.last_error, row.sent_at) == ("sent", 4, 200, "", fourth_try)
    assert receiver.seen == [kind.delivery_id(row)] * 4
    assert kind.model.backoff(50) == kind.model.longest_wait  # the wait has a ceiling


def test_a_permanent_failure_stops_at_once_and_a_dead_receiver_after_the_last_attempt(kind: RowKind) -> None:
    gone, dead = kind.make(NOW), kind.make(NOW + timedelta(seconds=1))
    receiver = Receiver(kind)
    claimed = claim_one(kind, NOW)
    assert claimed is not None
    outcome = outbox.send(claimed, receiver.answering(claimed, TransportError("the receiver answered HTTP 410", permanent=True, code=410)), now=NOW)
    assert outcome is not None and outcome.result == "failed" and outcome.final
    gone.refresh_from_db()
    assert (gone.status, gone.attempts, gone.response_code, gone.last_error) == ("failed", 1, 410, "the receiver answered HTTP 410")

    moment = NOW + timedelta(seconds=1)
    for _ in range(kind.model.max_attempts + 2):
        claimed = claim_one(kind, moment)
        if claimed is not None:
            outbox.send(claimed, receiver.answering(claimed, TransportError("could not reach the receiver")), now=moment)
        moment += kind.model.longest_wait
    dead.refresh_from_db()
    assert (dead.status, dead.attempts, dead.last_error) == ("failed", kind.model.max_attempts, "could not reach the receiver")
    assert receiver.seen.count(kind.delivery_id(dead)) == kind.model.max_attempts
    assert claim_one(kind, moment + timedelta(days=1)) is None  # failed rows stay failed


def test_a_row_left_by_a_dead_worker_is_sent_again_with_the_same_id_after_the_lease(kind: RowKind) -> None:
    row = kind.make(NOW)
    receiver = Receiver(kind)
    abandoned = claim_one(kind, NOW)  # this worker stalls (or dies) mid-send
    assert abandoned is not None
    assert claim_one(kind, NOW + outbox.lease() - timedelta(seconds=1)) is None  # its lease still holds

    after_lease = NOW + outbox.lease() + timedelta(seconds=1)
    claimed = claim_one(kind, after_lease)
    assert claimed is not None and claimed.pk == row.pk
    # The first worker was only slow: what it records late does not touch the new claim.
    outbox.send(abandoned, receiver.answering(abandoned, TransportError("the receiver answered HTTP 500", code=500)), now=after_lease)
    row.refresh_from_db()
    assert (row.status, row.claimed_at, row.last_error) == ("sending", after_lease, "")

    assert outbox.send(claimed, receiver.answering(claimed, 202), now=after_lease) == outbox.Outcome("sent", 202)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.response_code, row.sent_at) == ("sent", 2, 202, after_lease)
    assert receiver.seen == [kind.delivery_id(row)] * 2


def test_a_row_whose_sender_dies_every_time_fails_after_its_attempts(kind: RowKind) -> None:
    row = kind.make(NOW)
    receiver = Receiver(kind)
    moment = NOW
    for _ in range(kind.model.max_attempts + 1):
        assert claim_one(kind, moment) is not None  # and the worker dies mid-send
        moment += outbox.lease() + timedelta(seconds=1)
    row.refresh_from_db()
    outcome = outbox.send(row, receiver.answering(row, 200), now=moment)
    assert outcome is not None and outcome.result == "failed"
    assert receiver.seen == []  # not sent once more
    row.refresh_from_db()
    assert row.status == "failed" and row.last_error == f"no worker finished sending it in {kind.model.max_attempts} attempts; each stopped mid-send"
