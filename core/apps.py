from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _start_new_consumers(sender: Any, **kwargs: Any) -> None:
    if sender.name == "core":  # once per migrate, when core's tables exist
        from core.events import start_new_consumers

        start_new_consumers()


class CoreConfig(AppConfig):
    """The ground every app stands on: users and roles, audit, env, events, live updates, health."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_login_failed

        from core import metrics
        from core.client_address import client_address
        from core.logging import security_log
        from core.roles import sync_role_groups

        post_migrate.connect(sync_role_groups, dispatch_uid="vigil-sync-roles")
        post_migrate.connect(_start_new_consumers, dispatch_uid="vigil-event-cursors")

        def on_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any) -> None:
            metrics.login_failures.inc()
            security_log.warning(
                "login failed for %r from %s",
                credentials.get("username", ""),
                client_address(request) if request is not None else "-",
                extra={"event": "login_failed", "username": credentials.get("username", "")},
            )

        def on_locked_out(sender: Any, request: Any = None, username: str = "", ip_address: str = "", **_: Any) -> None:
            metrics.login_lockouts.inc()
            security_log.warning(
                "login locked out for %r from %s after repeated failures",
                username,
                ip_address,
                extra={"event": "login_locked_out", "username": username},
            )

        user_login_failed.connect(on_login_failed, weak=False, dispatch_uid="vigil-login-failed")
        user_locked_out.connect(on_locked_out, weak=False, dispatch_uid="vigil-locked-out")
