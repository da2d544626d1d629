"""The address of the client behind a request: the one place that reads forwarded headers.

X-Forwarded-For, X-Real-IP and Forwarded are written by whoever sends the request, so
they are believed only when the TCP peer (REMOTE_ADDR) is one of the proxies named in
VIGIL_TRUSTED_PROXIES. X-Forwarded-For is then walked from the right, past every
trusted hop: the first address that is not a trusted proxy is the client. Entries to
its left were written by the client itself and are never believed.

Every reader of the client address (login lockout through axes, rate limits, audit log,
security log) calls client_address(request). X-Forwarded-Proto (what Django's
SECURE_PROXY_SSL_HEADER reads to decide a request came over HTTPS) is held to the same
rule: drop_untrusted_forwarded_proto removes it unless a trusted proxy sent it.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

logger = logging.getLogger("vigil.security")
_warned: set[str] = set()  # loopback peers already warned about, once per process


@functools.lru_cache(maxsize=8)
def _trusted(entries: tuple[str, ...]) -> tuple[Network, ...]:
    # settings.py checked each entry at start-up (core.env.Env.networks)
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _address(text: str) -> Address | None:
    text = text.strip().strip('"')
    if text.startswith("["):  # [2001:db8::1]:443 (Forwarded) or [2001:db8::1]
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # 203.0.113.7:5123
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


_FORWARDED_FOR = re.compile(r'(?:^|[;,\s])for=("[^"]*"|[^;,\s]*)', re.IGNORECASE)


def _forwarded_chain(meta: dict[str, str]) -> list[str]:
    """The hops a trusted proxy reported, nearest last."""
    if meta.get("HTTP_X_FORWARDED_FOR"):
        return [hop for hop in meta["HTTP_X_FORWARDED_FOR"].split(",") if hop.strip()]
    if meta.get("HTTP_FORWARDED"):
        return _FORWARDED_FOR.findall(meta["HTTP_FORWARDED"])
    if meta.get("HTTP_X_REAL_IP"):
        return [meta["HTTP_X_REAL_IP"]]
    return []


def _peer_is_trusted(peer: str, trusted: tuple[Network, ...]) -> bool:
    peer_address = _address(peer)
    return bool(trusted) and peer_address is not None and any(peer_address in network for network in trusted)


def drop_untrusted_forwarded_proto(request: HttpRequest) -> None:
    """Forget X-Forwarded-Proto unless a trusted proxy sent it: otherwise any client reaching
    the app directly could say "https" and be treated as on a secure connection."""
    if "HTTP_X_FORWARDED_PROTO" not in request.META:
        return
    peer = request.META.get("REMOTE_ADDR", "") or ""
    if _peer_is_trusted(peer, _trusted(tuple(getattr(settings, "VIGIL_TRUSTED_PROXIES", ())))):
        return
    proto = request.META.pop("HTTP_X_FORWARDED_PROTO")
    peer_address = _address(peer)
    if peer_address is not None and peer_address.is_loopback and peer not in _warned:
        # Most likely a proxy on this host that is not listed: HTTPS redirects loop until it is.
        _warned.add(peer)
        logger.warning("X-Forwarded-Proto %r from %s ignored: that address is not in VIGIL_TRUSTED_PROXIES; "
                       "if it is your reverse proxy, add it (e.g. VIGIL_TRUSTED_PROXIES=%s)", proto[:16], peer, peer)


def forwarded_https(peer: str, forwarded_proto: str | None) -> bool:
    """True when a trusted proxy (VIGIL_TRUSTED_PROXIES) says the client's connection is HTTPS
    (for code that runs before Django's request exists, e.g. an ASGI layer)."""
    if forwarded_proto is None or forwarded_proto.strip().lower() != "https":
        return False
    return _peer_is_trusted(peer, _trusted(tuple(getattr(settings, "VIGIL_TRUSTED_PROXIES", ()))))


def client_address(request: HttpRequest) -> str:
    """The client's IP address as text; REMOTE_ADDR unless a trusted proxy forwarded the request."""
    peer = request.META.get("REMOTE_ADDR", "") or ""
    trusted = _trusted(tuple(getattr(settings, "VIGIL_TRUSTED_PROXIES", ())))
    if not _peer_is_trusted(peer, trusted):
        return peer
    client = peer
    for hop in reversed(_forwarded_chain(request.META)):
        hop_address = _address(hop)
        if hop_address is None:  # garbage (or "unknown"): the last address we could vouch for stands
            return client
        client = str(hop_address)
        if not any(hop_address in network for network in trusted):
            return client
    return client
