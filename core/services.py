"""Writes of the portal app: the audit trail and role assignment."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.db import models, transaction
from django.http import HttpRequest

from core.client_address import client_address
from core.models import AuditLog
from core.request_context import audit_source_var, request_id_var
from core.roles import ROLES
from core.secrets import is_secret_field, mask_secrets


def _printable(name: str, value: Any) -> Any:
    if is_secret_field(name):
        return "(changed)" if value not in (None, "") else ""
    if isinstance(value, dict):
        return mask_secrets(value)
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, (list, tuple, set)) or (hasattr(value, "__iter__") and not isinstance(value, (str, bytes, dict))):
        return [str(item) for item in value]
    if isinstance(value, (str, int, float, bool, dict)) or value is None:
        return value
    return str(value)


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    target: models.Model | None = None,
    object_type: str = "",
    changes: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
    source: str = AuditLog.Source.SYSTEM,
) -> AuditLog:
    user = actor if actor is not None and actor.is_authenticated else None
    source = audit_source_var.get() or source
    entry = AuditLog(
        actor=user,  # type: ignore[misc]
        actor_name=user.get_username() if user is not None else "system",
        action=action,
        object_type=target._meta.label_lower if target is not None else object_type,
        object_id=str(target.pk) if target is not None and target.pk is not None else "",
        object_repr=str(target)[:200] if target is not None else "",
        changes={name: _printable(name, value) for name, value in (changes or {}).items()},
        source=source,
        ip_address=(client_address(request) or None) if request is not None else None,
        request_id=getattr(request, "request_id", "") if request is not None else request_id_var.get().strip("-"),
    )
    entry.full_clean()
    entry.save()
    return entry


@transaction.atomic
def assign_role(*, user: AbstractBaseUser, role: str, by: AbstractBaseUser | None = None) -> None:
    """Give user exactly one role; every role may open the staff pages and admin."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    user.groups.remove(*Group.objects.filter(name__in=ROLES))  # type: ignore[attr-defined]
    user.groups.add(Group.objects.get(name=role))  # type: ignore[attr-defined]
    if not getattr(user, "is_staff", False):
        user.is_staff = True  # type: ignore[attr-defined]
        user.save(update_fields=["is_staff"])  # type: ignore[misc]
    audit_record(actor=by, action="assign_role", target=user, changes={"role": role})
