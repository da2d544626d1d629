"""The frame every section writer uses: look names up, keep stored secrets, turn model errors into file problems."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from configfile.schema import VigilConfig
from configfile.source import Source
from core.secrets import SECRET_MASK, is_secret_field, missing_references


class Writer:
    """Applies one file; every problem is recorded against the item's line, then raised together."""

    def __init__(self, config: VigilConfig, source: Source, by: Any, now: datetime) -> None:
        self.config, self.source, self.by, self.now = config, source, by, now
        self.warnings: list[str] = []

    def lookup(self, model: Any, names: list[str] | None, path: tuple[Any, ...], *, field_name: str = "name") -> list[Any]:
        names = names or []
        found = {getattr(obj, field_name): obj for obj in model._default_manager.filter(**{f"{field_name}__in": names})}
        missing = [name for name in names if name not in found]
        if missing:
            label = model._meta.verbose_name
            self.source.problem(path, f"no {label} named {', '.join(map(repr, missing))}; add it to the file or create it first")
        return [found[name] for name in names if name in found]

    def one(self, model: Any, name: str | None, path: tuple[Any, ...]) -> Any:
        return (self.lookup(model, [name], path) or [None])[0] if name else None

    def secret(self, new: Any, old: Any, path: tuple[Any, ...]) -> Any:
        if new == SECRET_MASK:
            if not old:
                self.source.problem(path, "the value is masked (********); write the secret, or better env:NAME")
            return old
        for name in missing_references(new):
            self.warnings.append(f"{self.source.where(path)} reads ${name}, which is not set here; set it where Vigil's worker runs")
        return new

    def settings(self, new: Any, old: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(new, dict):
            old = old if isinstance(old, dict) else {}
            return {key: (self.secret(value, old.get(key), (*path, key)) if is_secret_field(str(key)) and isinstance(value, str)
                          else self.settings(value, old.get(key), (*path, key))) for key, value in new.items()}
        if isinstance(new, list):
            old = old if isinstance(old, list) else []
            return [self.settings(value, old[i] if i < len(old) else None, (*path, i)) for i, value in enumerate(new)]
        return new

    def save(self, obj: Any, path: tuple[Any, ...], write: Callable[[], Any], fields: dict[str, str] | None = None) -> Any:
        """Run write(); a model's ValidationError becomes problems on the item's fields (model field -> file field)."""
        try:
            with transaction.atomic():
                return write()
        except ValidationError as exc:
            names = {model_field: file_field for file_field, model_field in (fields or {}).items()}
            for model_field, messages in (exc.message_dict.items() if hasattr(exc, "error_dict") else [("", exc.messages)]):
                target = names.get(model_field, model_field)
                # A nested file field ("heartbeat.schedule") is a path of its own, so the problem carries its line.
                self.source.problem((*path, *target.split(".")) if target and target != "__all__" else path, " ".join(messages))
        except ValueError as exc:
            self.source.problem(path, str(exc))
        return None
