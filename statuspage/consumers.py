"""Websocket for open status pages: public pages for anyone, private ones for people with access (core.live's protocol)."""

from __future__ import annotations

from channels.db import database_sync_to_async

from core.consumers import LiveConsumer
from statuspage.live import status_group


class StatusConsumer(LiveConsumer):
    def group_name(self) -> str:
        return status_group(self.scope["url_route"]["kwargs"]["slug"])

    async def connect(self) -> None:
        from statuspage.access import cookie_grants_access
        from statuspage.snapshot import get_routes

        slug = self.scope["url_route"]["kwargs"]["slug"]
        routes = await database_sync_to_async(get_routes)()
        meta = routes["pages"].get(slug)
        if meta is None:
            await self.close(code=4404)
            return
        if meta["private"]:
            user = self.scope.get("user")
            cookies = self.scope.get("cookies", {})
            if not (user is not None and user.is_authenticated) and not cookie_grants_access(cookies, slug, meta):
                await self.close(code=4401)
                return
        await self.join()
