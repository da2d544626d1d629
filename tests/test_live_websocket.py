"""The websocket endpoints speak one protocol ({"type": "changed", "topics": [...]}): staff hear of
changes after commit, status page visitors of a new snapshot, anonymous visitors are refused the staff one."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction

from core.live import OPS_GROUP, publish_after_commit
from portal.asgi import application
from statuspage.live import push_changed
from statuspage.models import StatusPage
from statuspage.snapshot import publish_routes

pytestmark = pytest.mark.django_db(transaction=True)


def _session_cookie(client, user) -> bytes:
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _connect(cookie: bytes | None):
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


def test_anonymous_visitors_are_refused():
    async def scenario():
        communicator, connected, code = await _connect(None)
        await communicator.disconnect()
        return connected, code

    connected, code = async_to_sync(scenario)()
    assert not connected and code == 4401


def test_staff_are_told_which_topics_changed_after_the_write_commits(client, viewer):
    cookie = _session_cookie(client, viewer)

    def write() -> None:
        with transaction.atomic():
            publish_after_commit(OPS_GROUP, topics=["monitors", "monitor-7", "monitors"])

    async def scenario():
        communicator, connected, _ = await _connect(cookie)
        assert connected
        await sync_to_async(write)()
        message = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "changed", "topics": ["monitor-7", "monitors"]}


def test_status_page_visitors_are_told_when_the_snapshot_changed(client):
    StatusPage.objects.update_or_create(slug="public", defaults={"title": "Acme status", "is_default": True})
    publish_routes()

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/status/public/", headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        await sync_to_async(push_changed)("public", "etag-1")
        message = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "changed", "topics": ["status"]}
