from __future__ import annotations

from django.apps import AppConfig


class ConfigFileConfig(AppConfig):
    """Configuration as code: vigil.yaml <-> the database (an edge over every app's services)."""

    name = "configfile"
    verbose_name = "Configuration as code"
