from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from core.roles import user_role


def vigil(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "vigil_version": settings.VIGIL_VERSION,
        "vigil_role": user_role(user) if user is not None else None,
    }
