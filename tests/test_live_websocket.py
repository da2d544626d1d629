"""The authenticated websocket endpoint: staff receive live pushes, anonymous visitors are refused."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from core.live import OPS_GROUP
from portal.asgi import application

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


def test_staff_receive_pushes_to_the_ops_group(client, viewer):
    cookie = _session_cookie(client, viewer)

    async def scenario():
        communicator, connected, _ = await _connect(cookie)
        assert connected
        await get_channel_layer().group_send(OPS_GROUP, {"type": "live.update", "data": {"type": "monitor", "new": "down"}})
        message = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return message

    assert async_to_sync(scenario)() == {"type": "monitor", "new": "down"}
