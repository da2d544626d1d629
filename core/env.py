"""One strict reader for every setting that comes from the environment.

Each reader names the variable and the fix when a value is wrong, so a bad
deployment stops at start-up with one readable line instead of failing later.
`NAME_FILE` variants let secrets come from files (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlparse


class ConfigError(Exception):
    """A setting from the environment is missing or malformed."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


# The methods below are named after the types they return; these aliases keep the
# annotations pointing at the builtins.
Text = str
Whole = int
Flag = bool
Items = list


class Env:
    def __init__(self, environ: Mapping[Text, Text] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def raw(self, name: Text) -> Text | None:
        """The value of NAME, or the contents of the file named by NAME_FILE."""
        file_var = f"{name}_FILE"
        path = self.environ.get(file_var)
        if path:
            try:
                with open(path, encoding="utf-8") as handle:
                    return handle.read().strip()
            except OSError as exc:
                raise ConfigError(
                    f"{file_var}: cannot read {path!r} ({exc.strerror}); "
                    f"point it at a readable file or set {name} instead"
                ) from None
        return self.environ.get(name)

    def str(self, name: Text, default: Text = "") -> Text:
        value = self.raw(name)
        return default if value is None else value

    def bool(self, name: Text, default: Flag = False) -> Flag:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{name}={value!r} is not a boolean; use 1/0, true/false, yes/no or on/off")

    def int(self, name: Text, default: Whole, *, minimum: Whole | None = None, maximum: Whole | None = None) -> Whole:
        value = self.raw(name)
        if value is None or value.strip() == "":
            return default
        try:
            number = int(value.strip())
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not a whole number; set it like {name}={default}") from None
        if minimum is not None and number < minimum:
            raise ConfigError(f"{name}={number} is below the minimum {minimum}; set it to {minimum} or more")
        if maximum is not None and number > maximum:
            raise ConfigError(f"{name}={number} is above the maximum {maximum}; set it to {maximum} or less")
        return number

    def list(self, name: Text, default: Items[Text] | None = None) -> Items[Text]:
        value = self.raw(name)
        if value is None:
            return list(default or [])
        return [item.strip() for item in value.split(",") if item.strip()]

    def networks(self, name: Text) -> Items[Text]:
        """A comma-separated list of IP addresses or CIDR networks (e.g. trusted proxies)."""
        entries = self.list(name)
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(
                    f"{name}: {entry!r} is not an IP address or network; list them like {name}=10.0.0.5,192.168.1.0/24,::1"
                ) from None
        return entries

    def choice(self, name: Text, choices: tuple[Text, ...], default: Text) -> Text:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if value not in choices:
            raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}; pick one of those")
        return value

    def url(self, name: Text, schemes: tuple[Text, ...], default: Text = "") -> Text:
        value = self.raw(name)
        if value is None or value.strip() == "":
            return default
        value = value.strip()
        parsed = urlparse(value)
        if parsed.scheme not in schemes:
            raise ConfigError(
                f"{name}={_redact(value)!r} has scheme {parsed.scheme or 'none'!r}; "
                f"use a URL starting with {' or '.join(s + '://' for s in schemes)}"
            )
        if parsed.scheme not in ("sqlite", "unix", "redis+socket") and not parsed.hostname:
            raise ConfigError(f"{name}={_redact(value)!r} has no host; use e.g. {schemes[0]}://host:port/...")
        try:
            parsed.port  # noqa: B018 - raises on a non-numeric port
        except ValueError:
            raise ConfigError(f"{name}={_redact(value)!r} has a port that is not a number; fix the :port part") from None
        return value


def _redact(url: str) -> str:
    """Hide a password inside a URL so error messages never print it."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url
