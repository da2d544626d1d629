"""DNS: a record resolves (optionally to expected values), from a chosen resolver.

target: the name. settings: record_type (A), expected ([values], any order;
every expected value must be present), resolver ("127.0.0.1" or "127.0.0.1:5353";
default the system's), protocol ("udp" | "tcp").
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from monitors.checkers.base import CheckSession, Deadline, Result, down, ok
from monitors.checkers.tcp import split_host_port

if TYPE_CHECKING:
    from monitors.models import Monitor


def validate(target: str, settings: dict[str, Any]) -> dict[str, str]:
    try:
        dns.name.from_text(target)
    except (dns.exception.DNSException, ValueError) as exc:
        return {"target": f"{target!r} is not a DNS name ({exc})"}
    record_type = str(settings.get("record_type", "A")).upper()
    try:
        dns.rdatatype.from_text(record_type)
    except dns.rdatatype.UnknownRdatatype:
        return {"settings": f"record_type {record_type!r} is not a DNS record type (A, AAAA, CNAME, MX, TXT, NS ...)"}
    expected = settings.get("expected")
    if expected is not None and not isinstance(expected, list):
        return {"settings": "expected must be a list of values"}
    resolver = settings.get("resolver")
    if resolver:
        try:
            split_host_port(str(resolver), default_port=53)
        except ValueError as exc:
            return {"settings": f"resolver: {exc}"}
    return {}


def _normalise(value: str) -> str:
    return value.strip().strip('"').rstrip(".").lower()


def check(monitor: Monitor, session: CheckSession, now: datetime) -> Result:
    settings = monitor.settings or {}
    record_type = dns.rdatatype.from_text(str(settings.get("record_type", "A")).upper())
    deadline = Deadline(monitor.timeout_seconds)
    resolver_spec = settings.get("resolver")
    try:
        if resolver_spec:
            host, port = split_host_port(str(resolver_spec), default_port=53)
            query = dns.message.make_query(monitor.target, record_type)
            if settings.get("protocol") == "tcp":
                response = dns.query.tcp(query, host, port=port, timeout=monitor.timeout_seconds)
            else:
                response = dns.query.udp(query, host, port=port, timeout=monitor.timeout_seconds)
            if response.rcode() != dns.rcode.NOERROR:
                return down(f"{monitor.target} {dns.rdatatype.to_text(record_type)}: {dns.rcode.to_text(response.rcode())}", latency_ms=deadline.elapsed_ms())
            answers = [item.to_text() for rrset in response.answer if rrset.rdtype == record_type for item in rrset]
        else:
            resolver = dns.resolver.Resolver()
            resolver.lifetime = monitor.timeout_seconds
            answers = [item.to_text() for item in resolver.resolve(monitor.target, record_type)]
    except dns.exception.Timeout:
        return down(f"no DNS answer within {monitor.timeout_seconds:g}s", latency_ms=deadline.elapsed_ms())
    except dns.resolver.NXDOMAIN:
        return down(f"{monitor.target} does not exist (NXDOMAIN)", latency_ms=deadline.elapsed_ms())
    except dns.resolver.NoAnswer:
        answers = []
    except (dns.exception.DNSException, OSError) as exc:
        return down(f"DNS error: {exc}", latency_ms=deadline.elapsed_ms())
    elapsed = deadline.elapsed_ms()
    type_text = dns.rdatatype.to_text(record_type)
    if not answers:
        return down(f"no {type_text} record for {monitor.target}", latency_ms=elapsed)
    expected = settings.get("expected")
    if expected:
        found = {_normalise(a) for a in answers}
        missing = [value for value in expected if _normalise(str(value)) not in found]
        if missing:
            return down(f"{type_text} {monitor.target} = {', '.join(sorted(found))}; missing {', '.join(map(str, missing))}", latency_ms=elapsed)
    return ok(f"{type_text} {', '.join(sorted(answers))[:150]}", latency_ms=elapsed)
