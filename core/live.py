"""Tell open pages that something they show changed; they fetch their panels again.

One protocol for every live page (the dashboard, an incident's console, a monitor's page,
public status pages): the browser receives {"type": "changed", "topics": [...]} and
static/js/vigil.js asks again for the htmx panels that show those topics, at most once a
second. No page content travels over the socket, so what a page shows is always what its
view renders, with the same permissions.

Topics: "monitors" and "monitor-<id>", "alerts", "incidents" and "incident-<id>",
"maintenance", "components" (staff pages, group OPS_GROUP), "status" (a status page's group).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger("vigil.live")
OPS_GROUP = "ops"


def changed_message(topics: Iterable[str]) -> dict[str, Any]:
    """What a live page receives: the one message of the protocol."""
    return {"type": "changed", "topics": sorted(set(topics))}


SEND_SECONDS = 5.0
_loop_lock = threading.Lock()
_loop: tuple[int, asyncio.AbstractEventLoop] | None = None


def _sender_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, in its own thread, that sends every push: the channel layer keeps
    its Redis connections per loop, so they are reused. (async_to_sync made a loop and a thread per
    push, and a new connection with it: ~5 ms CPU a push; bench: every check changes state.) A
    forked child (celery's prefork) makes its own: the parent's thread did not come along."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop[0] != os.getpid() or _loop[1].is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="vigil-live", daemon=True).start()
            _loop = (os.getpid(), loop)
        return _loop[1]


def publish(group: str, *, topics: Iterable[str]) -> bool:
    """Tell the group's open pages now; False when the push could not be sent (pages poll meanwhile)."""
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        message = {"type": "live.changed", "topics": sorted(set(topics))}
        sending = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _sender_loop())
        try:
            sending.result(SEND_SECONDS)
        finally:
            sending.cancel()  # no-op once sent; stops a send stuck on an unreachable Redis
    except Exception as exc:  # noqa: BLE001 - a live push never breaks the write that caused it
        log.warning("live update to %s not sent: %s", group, exc or type(exc).__name__)
        return False
    return True


class _AfterCommit:
    """The pushes one transaction owes: one message per group with every topic, sent after commit."""

    def __init__(self) -> None:
        self.groups: dict[str, set[str]] = {}

    def __call__(self) -> None:
        for group, topics in self.groups.items():
            publish(group, topics=topics)


_local = threading.local()


def publish_after_commit(group: str = OPS_GROUP, *, topics: Iterable[str]) -> None:
    """Tell the group after the current transaction commits (at once outside one). Every call in one
    transaction adds to one push per group: an event consumer handling fifty state changes in one
    transaction sends one message, not fifty (each push cost a thread and ~5 ms CPU; bench: every
    check changes state). Topics added in a savepoint that later rolls back may still be sent with
    the others: a page refetches once more, which is harmless."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        publish(group, topics=topics)
        return
    pending: _AfterCommit | None = getattr(_local, "pending", None)
    # Still registered unless that transaction ended or the savepoint that registered it rolled back.
    if pending is None or not any(hook[1] is pending for hook in connection.run_on_commit):
        pending = _local.pending = _AfterCommit()
        transaction.on_commit(pending)
    pending.groups.setdefault(group, set()).update(topics)
