"""Serve the public status page files (statuspage.snapshot.public_dir()) before Django runs.

A visitor flood asks for a handful of prebuilt documents; Django's ASGI handler (thread
hops, the middleware chain) costs far more than the bytes. This ASGI layer answers a GET
or HEAD for a file that exists, of a public page that is fresh, with the headers Django
would send (ETag, Last-Modified, Cache-Control, Vary, the security headers, CORS on the
API), honours If-None-Match / If-Modified-Since and Accept-Encoding (.br, .gz siblings),
and hands everything else to Django unchanged: query strings, private pages, a page's own
domain (its links are rewritten), a stale page (Django adds the "as of" note), documents
not on disk (Django builds them or answers 404), plain HTTP when SECURE_SSL_REDIRECT is on
(Django redirects; X-Forwarded-Proto counts from VIGIL_TRUSTED_PROXIES only), websockets.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from core.client_address import forwarded_https
from lib import http_conditional as conditional
from statuspage.snapshot import RESERVED_SEGMENTS, STALE_AFTER, _built_marker, _read_file, public_dir

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The content type each document kind is built with (statuspage.snapshot.build_documents).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".ics": "text/calendar; charset=utf-8",
}
PUBLIC_CACHE = "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"  # as statuspage.views
CORS = [(b"access-control-allow-origin", b"*"), (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
        (b"access-control-allow-headers", b"Content-Type, If-None-Match"), (b"access-control-max-age", b"86400")]
MARKER_SECONDS = 1.0  # how long a page's freshness (one stat) is trusted


class _File:
    """One document's bytes (and compressed siblings), read once per change of the file."""

    __slots__ = ("etag", "modified", "stamp", "variants")

    def __init__(self, path: str, stamp: tuple[int, int]) -> None:
        with open(path, "rb") as stream:
            body = stream.read()
        self.stamp = stamp
        self.modified = stamp[0] / 1e9
        # The same hash as the Document's, so Django's answer and this one revalidate each other.
        self.etag = hashlib.blake2b(body, digest_size=12).hexdigest()
        self.variants: dict[str, bytes] = {"": body}
        for encoding, suffix in (("br", ".br"), ("gzip", ".gz")):
            try:
                with open(path + suffix, "rb") as stream:
                    self.variants[encoding] = stream.read()
            except OSError:
                pass


class StatusFilesASGI:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.root = str(public_dir())
        self.files: dict[str, _File] = {}
        self.fresh_until: dict[str, float] = {}
        self.hosts: dict[bytes, bool] = {}
        self.common: list[tuple[bytes, bytes]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or scope.get("query_string"):
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        if not (path.startswith(("/status/", "/api/v2/"))) or "/." in path or "\\" in path:
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        secure = scope.get("scheme") == "https" or forwarded_https(
            (scope.get("client") or ("", 0))[0], headers[b"x-forwarded-proto"].decode("latin-1") if b"x-forwarded-proto" in headers else None)
        if settings.SECURE_SSL_REDIRECT and not secure:
            return await self.app(scope, receive, send)  # Django redirects to HTTPS
        slug = self._public_fresh_page(path, headers.get(b"host", b""))
        if slug is None:
            return await self.app(scope, receive, send)
        relative = path[1:] + "index.html" if path.endswith("/") else path[1:]
        found = self._file(os.path.join(self.root, relative))
        if found is None:
            return await self.app(scope, receive, send)
        await self._answer(scope, send, found, headers, relative, secure=secure)

    def _public_fresh_page(self, path: str, host: bytes) -> str | None:
        """The slug of the page the path belongs to, when Django would serve it as a public
        snapshot document at this host and the page is not stale; None otherwise."""
        routes = _read_file("routes.json")
        if not routes or not routes.get("default"):
            return None
        if not self._allowed_host(host, routes):
            return None
        segments = path.split("/")
        slug = segments[2] if len(segments) > 3 and segments[1] == "status" else ""
        if not slug or slug in RESERVED_SEGMENTS or slug not in routes["pages"]:
            slug = routes["default"]
        meta = routes["pages"].get(slug)
        if meta is None or meta["private"]:
            return None
        now = time.monotonic()
        if self.fresh_until.get(slug, 0.0) < now:
            try:
                built = _built_marker(slug).stat().st_mtime
            except OSError:
                return None
            if time.time() - built > STALE_AFTER.total_seconds():
                return None
            self.fresh_until[slug] = now + MARKER_SECONDS
        return str(slug)

    def _allowed_host(self, host: bytes, routes: dict[str, Any]) -> bool:
        known = self.hosts.get(host)
        if known is None:
            domain, _port = split_domain_port(host.decode("latin-1"))
            # A page's own domain: Django rewrites the links; a host not allowed: Django answers 400.
            known = bool(domain) and domain not in routes["domains"] and validate_host(domain, settings.ALLOWED_HOSTS)
            if len(self.hosts) < 1024:
                self.hosts[host] = known
        return known

    def _file(self, path: str) -> _File | None:
        try:
            info = os.stat(path)
        except OSError:
            return None
        stamp = (info.st_mtime_ns, info.st_size)
        cached = self.files.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached
        try:
            found = _File(path, stamp)
        except OSError:
            return None
        if len(self.files) > 4096:
            self.files.clear()
        self.files[path] = found
        return found

    def _common_headers(self, *, secure: bool) -> list[tuple[bytes, bytes]]:
        if self.common is None:
            from csp.utils import build_policy

            common = [(b"cache-control", PUBLIC_CACHE.encode()), (b"vary", b"Host, Accept-Encoding"),
                      (b"x-frame-options", settings.X_FRAME_OPTIONS.encode())]
            configured = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
            policy = build_policy(config=configured.get("DIRECTIVES")) if configured.get("DIRECTIVES") else ""
            if policy:
                common.append((b"content-security-policy", policy.encode()))
            if settings.SECURE_CONTENT_TYPE_NOSNIFF:
                common.append((b"x-content-type-options", b"nosniff"))
            if settings.SECURE_REFERRER_POLICY:
                common.append((b"referrer-policy", str(settings.SECURE_REFERRER_POLICY).encode()))
            if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
                common.append((b"cross-origin-opener-policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode()))
            self.common = common
        headers = list(self.common)
        if secure and settings.SECURE_HSTS_SECONDS:
            value = f"max-age={settings.SECURE_HSTS_SECONDS}"
            value += "; includeSubDomains" if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS else ""
            value += "; preload" if settings.SECURE_HSTS_PRELOAD else ""
            headers.append((b"strict-transport-security", value.encode()))
        return headers

    async def _answer(self, scope: Scope, send: Send, found: _File, request: dict[bytes, bytes], relative: str, *, secure: bool) -> None:
        accepted = request.get(b"accept-encoding", b"").decode("latin-1")
        encoding = next((name for name in ("br", "gzip") if name in found.variants and name in accepted), "")
        body = found.variants[encoding]
        etag = f'"{found.etag}-{"gz" if encoding == "gzip" else encoding}"' if encoding else f'"{found.etag}"'
        headers = [(b"etag", etag.encode()), (b"last-modified", formatdate(found.modified, usegmt=True).encode()),
                   *self._common_headers(secure=secure)]
        if "/api/v2/" in "/" + relative:
            headers += CORS
        if_none_match = request.get(b"if-none-match")
        if_modified_since = request.get(b"if-modified-since")
        if conditional.not_modified(None if if_none_match is None else if_none_match.decode("latin-1"),
                                    None if if_modified_since is None else if_modified_since.decode("latin-1"),
                                    etag, found.modified):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        suffix = os.path.splitext(relative)[1]
        headers += [(b"content-type", CONTENT_TYPES.get(suffix, "application/octet-stream").encode()),
                    (b"content-length", str(len(body)).encode())]
        if encoding:
            headers.append((b"content-encoding", encoding.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
