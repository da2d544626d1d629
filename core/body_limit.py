"""Request bodies above a size limit are refused with 413 before they are read.

Anyone may send a body to any path before any authentication runs, so the size is
checked at the server's edge: the declared Content-Length, and the bytes of a streamed
(chunked) body as they arrive. Paths under /api/ take VIGIL_MAX_API_BODY_BYTES (bulk
writes), everything else VIGIL_MAX_BODY_BYTES.

Three guards share `body_limit` and `refusal`:
- BodyLimitASGI wraps the ASGI application (any ASGI server: granian in the Procfile);
- core.daphne_body_limit stops daphne itself, which otherwise buffers the whole body
  before the application sees the request;
- BodyLimitWSGI wraps the WSGI application (gunicorn).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from django.conf import settings

API_PREFIX = "/api/"


def body_limit(path: str) -> int:
    """The largest request body accepted for this path, in bytes."""
    if path.startswith(API_PREFIX):
        return int(settings.VIGIL_MAX_API_BODY_BYTES)
    return int(settings.VIGIL_MAX_BODY_BYTES)


def _size(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


def refusal(path: str) -> tuple[str, bytes]:
    """Content type and body of the 413 answer: JSON for the API, plain text elsewhere."""
    limit = body_limit(path)
    if path.startswith(API_PREFIX):
        detail = (f"The request body is larger than {_size(limit)} ({limit} bytes), the limit for /api/; "
                  "send fewer items per request (an operator sets the limit with VIGIL_MAX_API_BODY_BYTES).")
        return "application/json", json.dumps({"detail": detail, "fields": {}}).encode()
    text = (f"Request body too large: this server accepts at most {_size(limit)} ({limit} bytes) here; "
            "send less (an operator sets the limit with VIGIL_MAX_BODY_BYTES).\n")
    return "text/plain; charset=utf-8", text.encode()


def declared_length(value: str | bytes | None) -> int | None:
    """Content-Length as a number, or None when absent or not a number (the server refuses those itself)."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    return int(text) if text.isdigit() else None


class BodyTooLarge(Exception):
    """A streamed body grew past its limit."""


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimitASGI:
    """ASGI middleware: 413 for a Content-Length above the limit, or once the received chunks pass it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = body_limit(path)
        headers = dict(scope.get("headers") or [])
        length = declared_length(headers.get(b"content-length"))
        if length is not None and length > limit:
            await _send_refusal(send, path)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if not started:
                await _send_refusal(send, path)


async def _send_refusal(send: Send, path: str) -> None:
    content_type, body = refusal(path)
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_SPOOL_IN_MEMORY = 256 * 1024  # a streamed body within its limit goes to disk beyond this


class BodyLimitWSGI:
    """WSGI middleware: 413 for a Content-Length above the limit; a streamed body is read up
    to its limit (spooled to disk) and refused as soon as it passes it."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        limit = body_limit(path)
        length = declared_length(environ.get("CONTENT_LENGTH") or None)
        if length is not None and length > limit:
            return _wsgi_refusal(start_response, path)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if length is None and chunked:
            spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
            stream = environ["wsgi.input"]
            total = 0
            while chunk := stream.read(64 * 1024):
                total += len(chunk)
                if total > limit:
                    spool.close()
                    return _wsgi_refusal(start_response, path)
                spool.write(chunk)
            spool.seek(0)
            environ["wsgi.input"] = spool
            environ["CONTENT_LENGTH"] = str(total)
        return self.app(environ, start_response)


def _wsgi_refusal(start_response: Callable[..., Any], path: str) -> list[bytes]:
    content_type, body = refusal(path)
    start_response("413 Content Too Large", [("Content-Type", content_type), ("Content-Length", str(len(body))),
                                              ("Connection", "close")])
    return [body]
