"""Websocket endpoint for live staff pages: only signed-in staff may connect."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from core.live import OPS_GROUP


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
        self.joined = self.group_name()
        await self.channel_layer.group_add(self.joined, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", None):
            await self.channel_layer.group_discard(self.joined, self.channel_name)

    async def live_update(self, event: dict[str, Any]) -> None:
        """Relay a server-side update: htmx fragments as text, data as JSON."""
        if event.get("html"):
            await self.send(text_data=event["html"])
        else:
            await self.send_json(event.get("data", {}))


class IncidentConsumer(LiveConsumer):
    """Commanders on one incident's page: each sees the others' updates as they land."""

    def group_name(self) -> str:
        return f"incident-{int(self.scope['url_route']['kwargs']['incident_id'])}"
