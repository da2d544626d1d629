"""Conditional GET (RFC 9110 section 13): does the client's copy still match?"""

from __future__ import annotations

from email.utils import parsedate_to_datetime


def http_date_seconds(value: str) -> int | None:
    """An HTTP date as unix seconds, or None when it is not one."""
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def not_modified(if_none_match: str | None, if_modified_since: str | None, etag: str, modified: float) -> bool:
    """True when a 304 answers: If-None-Match decides when it is sent (weak comparison), otherwise
    If-Modified-Since, compared in whole seconds as HTTP dates carry them."""
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return etag in tags or "*" in tags
    if not if_modified_since:
        return False
    since = http_date_seconds(if_modified_since)
    return since is not None and int(modified) <= since
