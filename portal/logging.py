"""Logging helpers: every record carries the request id of the work that logged it."""

from __future__ import annotations

import logging

from portal.request_context import request_id_var


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


security_log = logging.getLogger("vigil.security")
access_log = logging.getLogger("vigil.access")
