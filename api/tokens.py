"""Issue, check and revoke API tokens. Tokens look like vigil_<prefix>_<secret>."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from api.models import ApiToken
from core.services import audit_record

TOKEN_PREFIX = "vigil_"
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def token_issue(*, user: Any, name: str, scope: str, expires_at: datetime | None = None,
                by: Any = None) -> tuple[ApiToken, str]:
    """Create a token; the clear text is returned once and never stored."""
    prefix = secrets.token_hex(6)
    clear = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(user=user, name=name, scope=scope, prefix=prefix, token_hash=_digest(clear), expires_at=expires_at)
    token.full_clean()
    token.save()
    audit_record(actor=by, action="issue_token", target=token, changes={"user": user.get_username(), "scope": scope}, source="admin")
    return token, clear


def token_revoke(*, token: ApiToken, by: Any, now: datetime) -> None:
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=now)
        token.revoked_at = now
        audit_record(actor=by, action="revoke_token", target=token, source="admin")


def token_check(clear: str, *, now: datetime) -> ApiToken | None:
    """The live token for this text, or None (unknown, wrong, revoked, expired or its user inactive)."""
    if not clear.startswith(TOKEN_PREFIX) or len(clear) > 200:
        return None
    prefix, _, _secret = clear[len(TOKEN_PREFIX):].partition("_")
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.token_hash, _digest(clear)):
        return None
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now) or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
