"""Fault 6: notification receivers that answer 500, 429 with Retry-After, or hang. 500 and
429 are covered where the transports are (tests/test_alert_transports.py); here a receiver
that never answers: it costs one bounded wait, the other channel is delivered in the same
pass, and the stuck notification is retried (same delivery id) until it gets through."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from alerting.models import Channel, Notification
from tests.servers import RawServer, hang
from tests.test_alert_transports import deliver_all, queue_test, receiver  # noqa: F401 - receiver is a fixture

pytestmark = pytest.mark.django_db


def test_a_hanging_receiver_delays_nothing_else_and_loses_nothing(receiver):  # noqa: F811
    stuck = RawServer(hang)
    fine = receiver()
    try:
        hanging = Channel.objects.create(name="hanging", kind="webhook", config={"url": f"http://127.0.0.1:{stuck.port}/hook"})
        queue_test(hanging)
        queue_test(Channel.objects.create(name="fine", kind="webhook", config={"url": fine.url}))
        started = time.monotonic()
        deliver_all()
        assert time.monotonic() - started < 15  # one bounded wait, not forever
    finally:
        stuck.close()
    assert Notification.objects.get(channel__name="fine").status == "sent" and len(fine.server.requests) == 1
    waiting = Notification.objects.get(channel=hanging)
    assert (waiting.status, waiting.attempts) == ("pending", 1) and "did not answer" in waiting.last_error

    # The receiver comes back (here: the channel now points at one that answers).
    healed = receiver()
    Channel.objects.filter(pk=hanging.pk).update(config={"url": healed.url})
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        deliver_all()
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts) == ("sent", 2)
    assert healed.server.requests[0][2]["X-Vigil-Delivery"] == str(waiting.uid)
    assert len(fine.server.requests) == 1  # nothing sent twice
