"""A worker killed with SIGKILL in the middle of a send: the notification is still
delivered, by another worker, with the same id (receivers drop the repeat by it)."""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest
from django.utils import timezone

from alerting import services
from alerting.models import Channel, Notification
from tests.processes import start_worker, wait_until
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_notification_survives_a_worker_killed_mid_send(tmp_path):
    release = threading.Event()
    seen: list[str] = []

    def hook(handler) -> None:
        seen.append(handler.headers["X-Vigil-Delivery"])
        if len(seen) == 1:
            release.wait(20)  # the first attempt hangs: the worker is killed meanwhile
        respond(handler, 200, b"ok")

    receiver = HTTPServer({"/hook": hook})
    channel = Channel.objects.create(name="hook", kind="webhook", config={"url": f"{receiver.url}/hook"})
    notification = services.send_test(channel=channel, now=timezone.now())
    first = start_worker(tmp_path, name="first", queues="vigil", VIGIL_DELIVERY_LEASE_SECONDS="3")
    try:
        wait_until(lambda: len(seen) == 1, 30, f"the first worker never called the receiver:\n{first.output()[-2000:]}")
        for child in psutil.Process(first.popen.pid).children(recursive=True):
            child.send_signal(signal.SIGKILL)
        os.killpg(first.popen.pid, signal.SIGKILL)
    finally:
        first.stop()
    release.set()
    notification.refresh_from_db()
    assert notification.status == "sending"  # claimed by the dead worker, not sent
    second = start_worker(tmp_path, name="second", queues="vigil", VIGIL_DELIVERY_LEASE_SECONDS="3")
    try:
        time.sleep(3.5)  # the dead worker's lease runs out
        from alerting.tasks import deliver_notifications

        deliver_notifications.delay()
        wait_until(lambda: Notification.objects.get(pk=notification.pk).status == "sent", 30,
                   f"the second worker did not send it:\n{second.output()[-2000:]}")
    finally:
        second.stop()
        receiver.close()
    assert len(seen) == 2 and len(set(seen)) == 1 and seen[0] == str(notification.uid)
    assert Notification.objects.count() == 1
