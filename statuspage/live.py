"""Tell open status pages that their snapshot changed (core.live's protocol, topic "status")."""

from __future__ import annotations

from core.live import publish

_last_pushed: dict[str, str] = {}


def status_group(slug: str) -> str:
    return f"status-{slug}"


def push_changed(slug: str, etag: str) -> None:
    if _last_pushed.get(slug) == etag:
        return  # the minute rebuild changed nothing visitors see
    if publish(status_group(slug), topics=["status"]):
        _last_pushed[slug] = etag
