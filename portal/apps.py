from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The project: settings, urls, asgi/wsgi, the Celery app and boot. Its commands
    (seed_demo, bootstrap_admin) may import every app; no app imports portal."""

    name = "portal"
    verbose_name = "Portal"
