"""Read vigil.yaml keeping where each value was written, so an error names the file's line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import ValidationError

from configfile.schema import VigilConfig


class ConfigError(Exception):
    """The file cannot be applied; `problems` are lines like "vigil.yaml:12: monitors[0].interval: ..."."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Source:
    filename: str
    data: Any = None
    root: yaml.Node | None = None
    problems: list[str] = field(default_factory=list)

    def line(self, path: tuple[Any, ...]) -> int | None:
        """The line of the deepest node of path that the file has (1-based)."""
        node = self.root
        found = node
        for part in path:
            if isinstance(node, yaml.MappingNode):
                node = next((value for key, value in node.value if isinstance(key, yaml.ScalarNode) and key.value == str(part)), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
            else:
                node = None
            if node is None:
                break
            found = node
        return found.start_mark.line + 1 if found is not None else None

    def where(self, path: tuple[Any, ...]) -> str:
        """`monitors[0] (api-health).interval` for path ("monitors", 0, "interval")."""
        text = ""
        data = self.data
        for part in path:
            if isinstance(part, int):
                text += f"[{part}]"
                data = data[part] if isinstance(data, list) and part < len(data) else None
                if isinstance(data, dict) and isinstance(data.get("name", data.get("slug")), str):
                    text += f" ({data.get('name', data.get('slug'))})"
            else:
                text += f".{part}" if text else str(part)
                data = data.get(part) if isinstance(data, dict) else None
        return text or "(file)"

    def problem(self, path: tuple[Any, ...], message: str) -> None:
        line = self.line(path)
        self.problems.append(f"{self.filename}:{line if line else '?'}: {self.where(path)}: {message}")


def _message(error: dict[str, Any]) -> str:
    kind, message = error.get("type", ""), str(error.get("msg", "invalid"))
    if kind == "extra_forbidden":
        return "unknown field; check its spelling (the JSON Schema in docs/vigil-config.schema.json lists every field)"
    if kind == "missing":
        return "required field is missing"
    return message.removeprefix("Value error, ")


def parse(text: str, filename: str = "vigil.yaml") -> tuple[VigilConfig, Source]:
    """Parse and validate; raises ConfigError listing every problem with its line."""
    source = Source(filename)
    try:
        source.root = yaml.compose(text, Loader=yaml.SafeLoader)
        source.data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else "?"
        raise ConfigError([f"{filename}:{line}: not valid YAML: {exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{filename}: not valid YAML: {exc}"]) from None
    if source.data is None:
        source.data = {}
    if not isinstance(source.data, dict):
        raise ConfigError([f"{filename}:1: the file must be a mapping with sections like components:, monitors:, channels:"])
    try:
        config = VigilConfig.model_validate(source.data)
    except ValidationError as exc:
        for error in exc.errors():
            location = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith(("function-", "json-or-python"))))
            source.problem(location, _message(error))
        raise ConfigError(source.problems) from None
    _check_unique(config, source)
    if source.problems:
        raise ConfigError(source.problems)
    return config, source


def _check_unique(config: VigilConfig, source: Source) -> None:
    for section in VigilConfig.model_fields:
        items = getattr(config, section)
        if not isinstance(items, list):
            continue
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            key = getattr(item, "slug", None) or getattr(item, "name", None)
            if key in seen:
                field_name = "slug" if hasattr(item, "slug") else "name"
                source.problem((section, index, field_name), f"{key!r} is also at {section}[{seen[key]}]; names must be unique")
            seen.setdefault(key, index)
