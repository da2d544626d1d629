"""Which networks Vigil may be pointed at, per writer: settings VIGIL_EGRESS_<ROLE>_ALLOW for the
monitors and channels a role saves, VIGIL_EGRESS_SUBSCRIBER_ALLOW for status page webhooks
(checked again at every delivery). The checks themselves are lib.egress."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError

from core.roles import ADMIN, RESPONDER, VIEWER, user_role
from lib.egress import AllowList, EgressRefused, check_host, check_url, parse_allow

ROLE_SETTINGS = {ADMIN: "VIGIL_EGRESS_ADMIN_ALLOW", RESPONDER: "VIGIL_EGRESS_RESPONDER_ALLOW", VIEWER: "VIGIL_EGRESS_VIEWER_ALLOW"}
SUBSCRIBER_SETTING = "VIGIL_EGRESS_SUBSCRIBER_ALLOW"
# Management commands and the demo seed run with shell access to the host: nothing to protect.
SYSTEM = AllowList(setting="(system)", any=True)


def allow_list(setting: str) -> AllowList:
    return parse_allow(getattr(settings, setting), setting)


def subscriber_allow() -> AllowList:
    return allow_list(SUBSCRIBER_SETTING)


def allow_for(by: AbstractBaseUser | AnonymousUser | None) -> AllowList:
    """The allow list of whoever saves: None is the system; a user with no role gets the viewer's."""
    if by is None:
        return SYSTEM
    return allow_list(ROLE_SETTINGS[user_role(by) or VIEWER])


def refuse_outside(*, field: str, allow: AllowList, url: str = "", host: str = "", port: int = 0, label: str = "") -> None:
    """Raise ValidationError({field: ...}) naming the address and the setting unless allow permits
    the URL (or host and port); a name that does not resolve now passes (it is checked again when used)."""
    if allow.any:
        return
    try:
        check_url(url, allow) if url else check_host(host, port, allow)
    except EgressRefused as exc:
        if not exc.kind:  # unresolvable or malformed: the field's own validation speaks for that
            return
        prefix = f"{label}: " if label else ""
        raise ValidationError({field: f"{prefix}{exc}; to allow it, add its network to {allow.setting} "
                                      f"(docs/configuration.md)"}) from None
