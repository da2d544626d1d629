"""Logging helpers: every record carries the request id of the work that logged it."""

from __future__ import annotations

import logging

from core.request_context import request_id_var


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


security_log = logging.getLogger("vigil.security")
access_log = logging.getLogger("vigil.access")


class DatabaseOutageFilter(logging.Filter):
    """Drop Django's "Internal Server Error" traceback when the database is what failed: the
    503 handler logs one warning line instead, so an outage is not a wall of stack traces."""

    def filter(self, record: logging.LogRecord) -> bool:
        from django.db import InterfaceError, OperationalError

        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, (OperationalError, InterfaceError))
