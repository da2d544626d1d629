"""Reading Apprise URLs (https://github.com/caronc/apprise/wiki): whether one is usable, and which
network host it reaches when its owner chooses the host (json://, ntfys://, mailtos:// ...).

The channel model validates with it when a channel is saved, the egress policy checks the host,
and the apprise transport builds the service from it when sending. No Django here."""

from __future__ import annotations

import logging
from typing import Any

import apprise
from apprise.manager_plugins import NotificationManager

# Schemes whose host is a server the URL's author picks (self-hosted services, generic
# webhooks, SMTP): the egress policy checks that host like any webhook's. The other services
# talk to their vendor's fixed API, and their URL's "host" is a token.
SELF_HOSTED = {
    "json", "jsons", "xml", "xmls", "form", "forms", "ntfy", "ntfys", "gotify", "gotifys", "matrix", "matrixs",
    "mmost", "mmosts", "rocket", "rockets", "apprise", "apprises", "nctalk", "nctalks", "ncloud", "nclouds",
    "mailto", "mailtos", "mqtt", "mqtts", "hassio", "hassios", "signal", "signals", "kodi", "kodis", "xbmc", "xbmcs",
    "growl", "rsyslog", "synology", "synologys", "misskey", "misskeys", "lemmy", "lemmys",
}


class AppriseUrlError(ValueError):
    """An Apprise URL that names no usable service: the message says why, without repeating the URL's secrets."""


def service(url: str) -> Any:
    """The Apprise service the URL names, or AppriseUrlError."""
    if not isinstance(url, str) or "://" not in url:
        raise AppriseUrlError("an Apprise URL looks like scheme://..., e.g. tgram://BOT_TOKEN/CHAT_ID or ntfys://ntfy.example.com/topic")
    scheme = url.split("://", 1)[0].lower()
    # Apprise explains a refusal only in its log; the capture keeps it out of Vigil's own logs.
    with apprise.LogCapture(level=logging.WARNING) as said:
        found = apprise.Apprise.instantiate(url)
    if found is not None:
        return found
    if not _known(scheme):
        raise AppriseUrlError(f"'{scheme}://' is not a service Apprise knows; see https://github.com/caronc/apprise/wiki for the URL of yours")
    reason = "disabled on this system" if "disabled" in said.getvalue() else "a token, target or option is missing or malformed"
    raise AppriseUrlError(f"Apprise cannot use this {scheme}:// URL ({reason}); see https://github.com/caronc/apprise/wiki")


def _known(scheme: str) -> bool:
    return scheme in NotificationManager().schemas(include_disabled=True)


def problem(url: str) -> str | None:
    """Why the URL is unusable, or None."""
    try:
        service(url)
    except AppriseUrlError as error:
        return str(error)
    return None


def network_target(url: str) -> tuple[str, int] | None:
    """The host and port a self-hosted service's URL reaches, for the egress policy; None for the rest."""
    scheme = url.split("://", 1)[0].lower() if isinstance(url, str) else ""
    if scheme not in SELF_HOSTED:
        return None
    try:
        found = service(url)
    except AppriseUrlError:
        return None
    host = getattr(found, "host", None)
    if not host:
        return None
    port = getattr(found, "port", None) or (443 if getattr(found, "secure", False) else 80)
    return str(host), int(port)
