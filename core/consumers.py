"""Websocket endpoint for live staff pages: only signed-in staff may connect.

It speaks core.live's one protocol: {"type": "changed", "topics": [...]}, nothing else."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.live import OPS_GROUP, changed_message


class LiveConsumer(AsyncJsonWebsocketConsumer):
    groups: list[str] = []

    def group_name(self) -> str:
        return OPS_GROUP

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_staff:
            # 4401: the browser closes and the page shows it is not live.
            await self.close(code=4401)
            return
        await self.join()

    async def join(self) -> None:
        self.joined = self.group_name()
        await self.channel_layer.group_add(self.joined, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", None):
            await self.channel_layer.group_discard(self.joined, self.channel_name)

    async def live_changed(self, event: dict[str, Any]) -> None:
        await self.send_json(changed_message(event.get("topics", [])))
