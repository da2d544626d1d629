"""TCP: can a connection to host:port be opened within the timeout?"""

from __future__ import annotations

import socket
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitors.checkers.base import CheckSession, Deadline, Result, describe_error, down, ok

if TYPE_CHECKING:
    from monitors.models import Monitor


def split_host_port(target: str, default_port: int | None = None) -> tuple[str, int]:
    text = target.strip()
    for prefix in ("tcp://", "tls://", "https://"):
        if text.startswith(prefix):
            text = text[len(prefix):].split("/", 1)[0]
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.lstrip(":")
    else:
        host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    if not port_text:
        if default_port is None:
            raise ValueError(f"{target!r} has no port; write it as host:port")
        return host, default_port
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{target!r}: port {port_text!r} is not a number") from None
    if not 0 < port < 65536 or not host:
        raise ValueError(f"{target!r} is not a valid host:port")
    return host, port


def validate(target: str, settings: dict[str, Any]) -> dict[str, str]:
    try:
        split_host_port(target)
    except ValueError as exc:
        return {"target": str(exc)}
    return {}


def check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    host, port = split_host_port(monitor.target)
    deadline = Deadline(monitor.timeout_seconds)
    try:
        with socket.create_connection((host, port), timeout=monitor.timeout_seconds):
            elapsed = deadline.elapsed_ms()
    except TimeoutError:
        return down(f"connect to {host}:{port} timed out after {monitor.timeout_seconds:g}s", latency_ms=deadline.elapsed_ms())
    except OSError as exc:
        return down(f"{host}:{port}: {describe_error(exc)}", latency_ms=deadline.elapsed_ms())
    settings = monitor.settings or {}
    warn = settings.get("latency_warn_ms")
    if warn is not None and elapsed > warn:
        return Result("degraded", latency_ms=elapsed, message=f"slow connect: {elapsed} ms > {warn} ms")
    return ok(f"{host}:{port} open", latency_ms=elapsed)
