"""Roles: viewer (read everything), responder (run incidents), admin (everything).

Roles are Django groups. Their permissions are derived from the models of Vigil's
apps and re-synced after every migrate, so a model added later is covered without
a hand-written migration.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest

VIEWER, RESPONDER, ADMIN = "viewer", "responder", "admin"
ROLES = (VIEWER, RESPONDER, ADMIN)
_RANK = {VIEWER: 1, RESPONDER: 2, ADMIN: 3}

VIGIL_APPS = ("core", "monitors", "incidents", "statuspage", "alerting", "slo")
# Incident commanders write these; everything else they only read.
RESPONDER_WRITES = {
    "incidents": ("incident", "incidentupdate", "maintenance", "postmortem", "componentimpact", "deploy"),
    "alerting": ("alert", "silence"),
}


def role_permissions(role: str) -> Q:
    readable = Q(content_type__app_label__in=VIGIL_APPS, codename__startswith="view_")
    if role == VIEWER:
        return readable
    if role == RESPONDER:
        writable = Q(pk__in=[])
        for app_label, models in RESPONDER_WRITES.items():
            for model in models:
                writable |= Q(content_type__app_label=app_label, content_type__model=model) & ~Q(codename__startswith="delete_")
        return readable | writable
    # Admins run Vigil: every permission of its apps and of users and groups.
    return Q(content_type__app_label__in=(*VIGIL_APPS, "api", "auth", "axes"))


def sync_role_groups(**_: Any) -> None:
    """Create the role groups and give each the permissions its role implies."""
    for role in ROLES:
        group, _created = Group.objects.get_or_create(name=role)
        group.permissions.set(Permission.objects.filter(role_permissions(role)))


def user_role(user: AbstractBaseUser | AnonymousUser) -> str | None:
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return ADMIN
    names = set(user.groups.values_list("name", flat=True))  # type: ignore[union-attr]
    held = [role for role in ROLES if role in names]
    return max(held, key=_RANK.__getitem__) if held else None


def has_role(user: AbstractBaseUser | AnonymousUser, role: str) -> bool:
    held = user_role(user)
    return held is not None and _RANK[held] >= _RANK[role]


ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])


def role_required(role: str) -> Callable[[ViewFunc], ViewFunc]:
    """Anonymous visitors go to the login page; a lower role gets 403."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, role):
                raise PermissionDenied(f"This page needs the {role} role.")
            return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


__all__ = ["ADMIN", "RESPONDER", "ROLES", "VIEWER", "has_role", "role_required", "sync_role_groups", "user_role"]
