"""Egress policy: which addresses an outbound connection may reach.

An allow list is checked against the address a name resolves to, and a pinned session
connects to exactly that checked address (keeping the name for the Host header, SNI and
the certificate check), so a name that resolves to a public address when it is saved
and to 127.0.0.1 when it is used (DNS rebinding) still cannot reach inside. No Django here.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses to try, in order; socket.getaddrinfo unless a test swaps it.
Resolver = Callable[[str, int], list[str]]

ANY, PUBLIC = "any", "public"
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressRefused(Exception):
    """The destination is outside the allow list; the message names the address and the setting."""

    def __init__(self, message: str, *, shown: str = "", kind: str = "") -> None:
        super().__init__(message)
        self.shown, self.kind = shown, kind  # "name (10.0.0.1)" and "private", for messages of their own


@dataclass(frozen=True)
class AllowList:
    """`any`, `public` (every globally routable unicast address) and CIDR networks, as one setting lists them."""

    setting: str
    any: bool = False
    public: bool = False
    networks: tuple[Network, ...] = ()

    def permits(self, address: Address) -> bool:
        if self.any:
            return True
        inner = embedded_ipv4(address)
        if self.public and kind_of(address) == "public":
            return True
        return any(candidate in network for candidate in {address, inner} for network in self.networks
                   if candidate.version == network.version)


def parse_allow(items: Iterable[str], setting: str) -> AllowList:
    """`["public", "10.20.0.0/16"]` -> AllowList; raises ValueError naming the bad item and the setting."""
    any_, public, networks = False, False, []
    for item in items:
        text = item.strip().lower()
        if text == ANY:
            any_ = True
        elif text == PUBLIC:
            public = True
        elif text:
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise ValueError(f"{setting}: {item!r} is not a network; write CIDRs like 10.0.0.0/8 or fd00::/8, "
                                 f"'public' or 'any', separated by commas") from None
    return AllowList(setting=setting, any=any_, public=public, networks=tuple(networks))


def embedded_ipv4(address: Address) -> Address:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, NAT64, 6to4, Teredo), else the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return address


def kind_of(address: Address) -> str:
    """"public", or why not: loopback, private, link-local, metadata, multicast, unspecified, reserved."""
    for candidate in dict.fromkeys((embedded_ipv4(address), address)):
        if candidate in METADATA:
            return "cloud metadata"
        for kind, flag in (("unspecified", candidate.is_unspecified), ("loopback", candidate.is_loopback),
                           ("link-local", candidate.is_link_local), ("multicast", candidate.is_multicast),
                           ("private", candidate.is_private), ("reserved", candidate.is_reserved)):
            if flag:
                return kind
        if not candidate.is_global:  # e.g. 100.64.0.0/10, shared address space
            return "non-public"
    return "public"


def system_resolver(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


resolver: Resolver = system_resolver


def check_host(host: str, port: int, allow: AllowList) -> str:
    """Resolve host and return the first address allow permits; raise EgressRefused when none is."""
    name = host.strip("[]").rstrip(".")
    try:
        literal: Address | None = ipaddress.ip_address(name)
    except ValueError:
        literal = None
    if allow.any and literal is None:
        return name  # nothing to check: let the connection resolve it
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = [ipaddress.ip_address(text.split("%", 1)[0]) for text in resolver(name, port)]
        except (OSError, UnicodeError) as exc:
            raise EgressRefused(f"{name} could not be resolved ({exc.__class__.__name__})") from None
    for address in addresses:
        if allow.permits(address):
            return str(address)
    refused = addresses[0] if addresses else None
    if refused is None:
        raise EgressRefused(f"{name} has no address")
    shown, kind = (name if literal is not None else f"{name} ({refused})"), kind_of(refused)
    raise EgressRefused(f"{shown} is a {kind} address, which {allow.setting} does not allow", shown=shown, kind=kind)


def check_url(url: str, allow: AllowList) -> str:
    """check_host for an http(s) URL; raises EgressRefused (a URL without a host included)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise EgressRefused(f"{url!r} is not a valid URL ({exc})") from None
    if not host:
        raise EgressRefused(f"{url!r} has no host")
    return check_host(host, port or (443 if parts.scheme == "https" else 80), allow)


class _Pinned:
    """Connects to the address check_host approved, while urllib3 keeps the name for Host and TLS."""

    egress_allow: AllowList
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        name = self._dns_host
        self._dns_host = check_host(name, self.port, self.egress_allow)  # type: ignore[attr-defined]
        try:
            return super()._new_conn()  # type: ignore[misc, no-any-return]
        finally:
            self._dns_host = name


class _PinnedAdapter(HTTPAdapter):
    def __init__(self, allow: AllowList) -> None:
        self.allow = allow
        super().__init__(max_retries=0)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        # Never through a proxy from the environment: the proxy, not this check, would choose the address.
        kwargs["proxies"] = {}
        return super().send(request, *args, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        attributes = {"egress_allow": self.allow}
        connection = type("PinnedHTTPConnection", (_Pinned, HTTPConnection), attributes)
        tls_connection = type("PinnedHTTPSConnection", (_Pinned, HTTPSConnection), attributes)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("PinnedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": connection}),
            "https": type("PinnedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": tls_connection}),
        }


def pinned_session(allow: AllowList) -> requests.Session:
    """A session whose every connection goes only to addresses allow permits, checked at connect time.
    Proxies from the environment are not used (REQUESTS_CA_BUNDLE still is)."""
    session = requests.Session()
    adapter = _PinnedAdapter(allow)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
