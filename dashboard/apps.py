from __future__ import annotations

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Staff pages: overview, monitor pages, operations and checklist views (an edge)."""

    name = "dashboard"
    verbose_name = "Dashboard"
