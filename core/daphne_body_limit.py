"""daphne reads a request's whole body (to a temporary file) and then hands all of it to the
application's queue at once, before the application sees the request: an ASGI middleware
alone would refuse a 1 GB body only after daphne held it in memory.

install() makes daphne's HTTP requests check the declared Content-Length as soon as the
headers are in, and count a streamed body as it arrives; past the limit (core.body_limit)
they answer 413, stop keeping the body and close the connection.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from daphne import http_protocol
from twisted.web import http

from core.body_limit import body_limit, refusal

# After the 413 the connection is closed for writing and what the client still sends is read and
# dropped for this long, so that its TCP stack does not reset the connection before the client
# reads the answer; then the connection is cut.
LINGER_SECONDS = 2.0


class LimitedWebRequest(http_protocol.WebRequest):  # type: ignore[misc]
    refused = False
    body_received = 0
    limit = 0
    limit_path = "/"

    def gotLength(self, length: int | None) -> None:
        raw_path = getattr(self.channel, "_path", b"/") or b"/"
        self.limit_path = raw_path.split(b"?", 1)[0].decode("latin-1")
        self.limit = body_limit(self.limit_path)
        if length is not None and length > self.limit:
            self.content = BytesIO()
            # No "100 Continue" after the refusal: the client must not send the body.
            self.requestHeaders.removeHeader(b"Expect")
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.refused:
            return
        self.body_received += len(data)
        if self.body_received > self.limit:
            self.content.close()
            self.content = BytesIO()
            self._refuse()
            return
        super().handleContentChunk(data)

    def process(self) -> Any:
        if self.refused:
            return None
        return super().process()

    def connectionLost(self, reason: Any) -> None:
        if self.refused:  # never handed to the application: nothing of daphne's to clean up
            http.Request.connectionLost(self, reason)
            return
        super().connectionLost(reason)

    def _refuse(self) -> None:
        self.refused = True
        content_type, body = refusal(self.limit_path)
        transport = self.channel.transport
        transport.write(
            b"HTTP/1.1 413 Content Too Large\r\n"
            + b"Content-Type: " + content_type.encode() + b"\r\n"
            + b"Content-Length: " + str(len(body)).encode() + b"\r\n"
            + b"Connection: close\r\n\r\n" + body
        )
        if hasattr(transport, "loseWriteConnection"):
            transport.loseWriteConnection()
        self.channel.callLater(LINGER_SECONDS, transport.abortConnection)


def install() -> None:
    """Make daphne build LimitedWebRequest for every HTTP request (its factory reads the module attribute)."""
    http_protocol.WebRequest = LimitedWebRequest
