"""Secrets in monitor settings may be written as env:NAME and are read at check time."""

from __future__ import annotations

import os


def resolve_secret(value: str) -> str:
    text = str(value)
    if text.startswith("env:"):
        return os.environ.get(text[4:], "")
    return text
