"""Access to private status pages: signed-in staff, or the page's shared token.

A visitor who opens a link with ?token=... gets a signed cookie bound to the token's
hash, so a new token (rotation) locks out every old cookie at once."""

from __future__ import annotations

import hmac
from typing import Any

from django.core import signing
from django.http import HttpRequest

from statuspage.models import hash_token

COOKIE_SALT = "vigil.statuspage.access"
COOKIE_AGE = 30 * 24 * 3600


def cookie_name(slug: str) -> str:
    return f"vigil_status_{slug}"


def token_matches(token: str, meta: dict[str, Any]) -> bool:
    return bool(meta.get("token_hash")) and hmac.compare_digest(meta["token_hash"], hash_token(token))


def cookie_value(slug: str, meta: dict[str, Any]) -> str:
    return signing.dumps({"p": slug, "h": meta["token_hash"][:16]}, salt=COOKIE_SALT)


def cookie_grants_access(cookies: dict[str, str], slug: str, meta: dict[str, Any]) -> bool:
    raw = cookies.get(cookie_name(slug))
    if not raw or not meta.get("token_hash"):
        return False
    try:
        value = signing.loads(raw, salt=COOKIE_SALT, max_age=COOKIE_AGE)
    except signing.BadSignature:
        return False
    return value.get("p") == slug and hmac.compare_digest(str(value.get("h")), meta["token_hash"][:16])


def request_token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return request.GET.get("token", "")


def has_access(request: HttpRequest, slug: str, meta: dict[str, Any]) -> bool:
    if not meta.get("private"):
        return True
    token = request_token(request)
    if token and token_matches(token, meta):
        return True
    if cookie_grants_access(request.COOKIES, slug, meta):
        return True
    return bool(request.user.is_authenticated)
