"""Secrets in settings: written as env:NAME, read from the environment where they are used, masked where shown.

The one place that knows the env:NAME convention: checkers resolve their passwords and
tokens with it at check time, channels at send time, config import lists the references
it cannot resolve, and every page, API answer and audit entry masks stored secrets with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

ENV_PREFIX = "env:"

# A stored secret shown back (admin, API, exported config); sent back unchanged it means "keep the stored one".
SECRET_MASK = "********"

# Setting names whose values are secrets: masked when shown, never in the audit trail in clear.
SECRET_FIELD_MARKERS = ("secret", "token", "password", "webhook_url", "api_key", "routing_key", "authorization")


class MissingSecret(ValueError):
    """An env:NAME reference whose variable is not set in this process."""


def is_env_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith(ENV_PREFIX) and len(value) > len(ENV_PREFIX)


def _missing_message(what: str, names: list[str]) -> str:
    variables = "variable " + names[0] if len(names) == 1 else "variables " + ", ".join(names)
    references = ", ".join(ENV_PREFIX + name for name in names)
    return f"{what}: set the environment {variables} for the worker (its config says {references})"


def resolve(value: Any, *, what: str, environ: Mapping[str, str] | None = None) -> str:
    """The value itself, or the variable an env:NAME reference names; `what` names the setting in the error."""
    environ = os.environ if environ is None else environ
    text = str(value)
    if not is_env_reference(text):
        return text
    name = text[len(ENV_PREFIX):]
    if name not in environ:
        raise MissingSecret(_missing_message(what, [name]))
    return environ[name]


def _references(value: Any) -> Iterator[str]:
    if is_env_reference(value):
        yield value[len(ENV_PREFIX):]
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _references(item)


def missing_references(value: Any, environ: Mapping[str, str] | None = None) -> list[str]:
    """The variables that env:NAME references anywhere in nested settings name and this process lacks, each once."""
    environ = os.environ if environ is None else environ
    return list(dict.fromkeys(name for name in _references(value) if name not in environ))


def resolve_all(config: Mapping[str, Any], *, what: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A copy of a flat configuration with every env:NAME value read; one error names every missing variable."""
    environ = os.environ if environ is None else environ
    missing = list(dict.fromkeys(value[len(ENV_PREFIX):] for value in config.values()
                                 if is_env_reference(value) and value[len(ENV_PREFIX):] not in environ))
    if missing:
        raise MissingSecret(_missing_message(what, missing))
    return {key: resolve(value, what=what, environ=environ) if is_env_reference(value) else value for key, value in config.items()}


def is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in SECRET_FIELD_MARKERS)


def mask(value: Any) -> Any:
    """A secret as it may be shown back: stored values masked, env:NAME references (and blanks) as they are."""
    if isinstance(value, str) and value and not is_env_reference(value):
        return SECRET_MASK
    return value


def mask_secrets(value: Any) -> Any:
    """A copy of nested settings with the value of every secret-named key masked."""
    if isinstance(value, dict):
        return {key: (mask(item) if is_secret_field(str(key)) and isinstance(item, str) else mask_secrets(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    return value


def restore_masked(new: Any, old: Any) -> Any:
    """Settings sent back from a form or the API: wherever the mask came back unchanged, the stored secret."""
    if new == SECRET_MASK:
        return "" if old is None else old
    if isinstance(new, dict):
        stored = old if isinstance(old, dict) else {}
        return {key: restore_masked(value, stored.get(key)) for key, value in new.items()}
    if isinstance(new, list):
        items = old if isinstance(old, list) else []
        return [restore_masked(value, items[i] if i < len(items) else None) for i, value in enumerate(new)]
    return new
