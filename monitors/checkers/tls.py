"""TLS certificate: chain and hostname valid, days to expiry against warning/critical.

target: host:port (port 443 when omitted) or an https:// URL.
settings: warn_days (14) -> degraded, critical_days (7) -> down, server_name
(SNI and hostname to verify, default the host), ca_file or ca_pem (a private CA).
"""

from __future__ import annotations

import socket
import ssl
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509

from monitors.checkers.base import CheckSession, Deadline, Result, degraded, describe_error, down, ok
from monitors.checkers.tcp import split_host_port

if TYPE_CHECKING:
    from monitors.models import Monitor


def validate(target: str, settings: dict[str, Any]) -> dict[str, str]:
    try:
        split_host_port(target, default_port=443)
    except ValueError as exc:
        return {"target": str(exc)}
    warn, critical = settings.get("warn_days", 14), settings.get("critical_days", 7)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (warn, critical)):
        return {"settings": "warn_days and critical_days must be whole numbers of days"}
    if critical > warn:
        return {"settings": f"critical_days ({critical}) must not exceed warn_days ({warn})"}
    return {}


def _context(settings: dict[str, Any], verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.get("ca_file"), cadata=settings.get("ca_pem"))
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _peer_certificate(host: str, port: int, server_name: str, context: ssl.SSLContext, timeout: float) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as raw:
        raw.settimeout(timeout)
        with context.wrap_socket(raw, server_hostname=server_name) as tls_socket:
            certificate = tls_socket.getpeercert(binary_form=True)
    if not certificate:
        raise ssl.SSLError("the server sent no certificate")
    return certificate


def check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    settings = monitor.settings or {}
    host, port = split_host_port(monitor.target, default_port=443)
    server_name = settings.get("server_name") or host
    warn_days, critical_days = int(settings.get("warn_days", 14)), int(settings.get("critical_days", 7))
    deadline = Deadline(monitor.timeout_seconds)
    problem = ""
    try:
        der = _peer_certificate(host, port, server_name, _context(settings, verify=True), monitor.timeout_seconds)
    except ssl.SSLCertVerificationError as exc:
        problem = exc.verify_message or describe_error(exc)
        try:
            der = _peer_certificate(host, port, server_name, _context(settings, verify=False), max(deadline.remaining(), 0.5))
        except (OSError, ssl.SSLError) as inner:
            return down(f"TLS: {problem}; {describe_error(inner)}", latency_ms=deadline.elapsed_ms())
    except TimeoutError:
        return down(f"TLS handshake with {host}:{port} timed out after {monitor.timeout_seconds:g}s", latency_ms=deadline.elapsed_ms())
    except (OSError, ssl.SSLError) as exc:
        return down(f"TLS {host}:{port}: {describe_error(exc)}", latency_ms=deadline.elapsed_ms())
    elapsed = deadline.elapsed_ms()
    certificate = x509.load_der_x509_certificate(der)
    expires = certificate.not_valid_after_utc
    days_left = (expires - now).total_seconds() / 86400
    details = {"expires_at": expires.isoformat(), "days_left": round(days_left, 2), "subject": certificate.subject.rfc4514_string()}
    when = f"{expires:%Y-%m-%d}"
    if days_left < 0:
        return down(f"certificate expired on {when}", latency_ms=elapsed, details=details)
    if problem:
        return down(f"certificate not trusted: {problem}", latency_ms=elapsed, details=details)
    if days_left < critical_days:
        return down(f"certificate expires in {days_left:.1f} days ({when}), critical below {critical_days}", latency_ms=elapsed, details=details)
    if days_left < warn_days:
        return degraded(f"certificate expires in {days_left:.1f} days ({when}), warning below {warn_days}", latency_ms=elapsed, details=details)
    return ok(f"certificate valid for {days_left:.0f} more days ({when})", latency_ms=elapsed, details=details)
