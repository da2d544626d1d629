"""The request id of the work in progress, for log lines and response headers."""

from __future__ import annotations

import contextvars

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("vigil_request_id", default="-")
