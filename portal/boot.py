"""Load settings once at process start and turn a ConfigError into one readable line."""

from __future__ import annotations

import os
import sys

from core.env import ConfigError


def load_settings_or_exit() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - forces the settings module to load now
    except ConfigError as exc:
        sys.stderr.write(f"vigil: configuration error: {exc}\n")
        raise SystemExit(2) from None
