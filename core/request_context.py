"""The request id of the work in progress, for log lines and response headers."""

from __future__ import annotations

import contextvars

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("vigil_request_id", default="-")
# Set for requests to the ops API, so the services' own audit rows say "api", not "console".
audit_source_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("vigil_audit_source", default=None)
