"""Read vigil.yaml keeping where each value was written, so an error names the file's line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml
from django.conf import settings
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


class _CountingLoader(yaml.SafeLoader):
    """A SafeLoader that notes, per collection node, how many of its children are aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_children: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if parent is not None and self.check_event(yaml.AliasEvent):
            self.alias_children[id(parent)] = self.alias_children.get(id(parent), 0) + 1
        return super().compose_node(parent, index)  # type: ignore[no-any-return]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_nesting(text: str, filename: str, max_depth: int) -> None:
    """Refuse deep nesting from the event stream (not recursive), before the recursive composer sees it."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > max_depth:
                    line = event.start_mark.line + 1 if event.start_mark else "?"
                    raise ConfigError([f"{filename}:{line}: nested more than {max_depth:,} levels deep; "
                                       f"the limit is {max_depth:,} (VIGIL_CONFIG_MAX_DEPTH)"])
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return  # the composer reports the syntax error with its line


def _check_expansion(root: yaml.Node, alias_children: dict[int, int], filename: str, max_aliases: int, max_depth: int) -> None:
    """Count aliases and depth as the document would be once every alias is expanded, without expanding it:
    each node's totals are computed once (iteratively) and reused wherever an alias repeats it."""
    aliases: dict[int, int] = {}
    depths: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            children = _children(node)
            aliases[key] = alias_children.get(key, 0) + sum(aliases[id(child)] for child in children)
            depths[key] = 1 + max((depths[id(child)] for child in children), default=0)
            continue
        if key in aliases:
            continue
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                line = child.start_mark.line + 1 if child.start_mark else "?"
                raise ConfigError([f"{filename}:{line}: an alias refers to a collection that contains it; write the values out"])
            if id(child) not in aliases:
                stack.append((child, False))
    total, depth = aliases[id(root)], depths[id(root)]  # plain integers, however large the expansion
    if total > max_aliases:
        raise ConfigError([f"{filename}: {total:,} aliases expanded; the limit is {max_aliases:,} (VIGIL_CONFIG_MAX_ALIASES)"])
    if depth > max_depth:
        raise ConfigError([f"{filename}: nested {depth:,} levels deep once aliases are expanded; "
                           f"the limit is {max_depth:,} (VIGIL_CONFIG_MAX_DEPTH)"])


def read_text(file: str, stdin: IO[str] | None = None) -> str:
    """The file's text, reading no more than VIGIL_CONFIG_MAX_BYTES (+1 to tell that it is longer)."""
    limit = settings.VIGIL_CONFIG_MAX_BYTES
    if stdin is not None:
        text = stdin.read(limit + 1)
    else:
        with Path(file).open(encoding="utf-8") as handle:
            text = handle.read(limit + 1)
    _check_size(text, "<stdin>" if stdin is not None else file)
    return text


def _check_size(text: str, filename: str) -> None:
    limit = settings.VIGIL_CONFIG_MAX_BYTES
    if len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit:
        raise ConfigError([f"{filename}: larger than {limit:,} bytes; the limit is {limit:,} bytes (VIGIL_CONFIG_MAX_BYTES)"])


def _load(text: str, filename: str) -> tuple[yaml.Node | None, Any]:
    """Compose and construct the document within the limits on size, nesting and alias expansion."""
    _check_size(text, filename)
    max_depth, max_aliases = settings.VIGIL_CONFIG_MAX_DEPTH, settings.VIGIL_CONFIG_MAX_ALIASES
    _check_nesting(text, filename, max_depth)
    loader = _CountingLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        _check_expansion(root, loader.alias_children, filename, max_aliases, max_depth)
        return root, loader.construct_document(root)
    finally:
        loader.dispose()


PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def _resolve_parameters(source: Source, given: Mapping[str, str]) -> dict[str, str]:
    """Each declared parameter's value (given, else its default, which may name parameters above it);
    a problem for every parameter without a value and for every given name the file does not declare."""
    declared = source.data.get("parameters")
    if declared is None:
        declared = {}
    if not isinstance(declared, dict):
        return {}  # the schema reports the shape
    for name in given:
        if name not in declared:
            known = ", ".join(map(str, declared)) or "none"
            source.problems.append(f"{source.filename}: --set {name}: the file has no parameter {name} (it declares: {known})")
    values: dict[str, str] = {}
    for name, declaration in declared.items():
        declaration = declaration if isinstance(declaration, dict) else {}
        # A given value, like a default, may name parameters above it (a form shows the default ${APP_URL}/metrics).
        written = given[name] if name in given else declaration.get("default")
        if written is not None:
            values[str(name)] = PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), str(written))
        else:
            hint = f" ({declaration['description']})" if declaration.get("description") else ""
            example = declaration.get("example") or "..."
            source.problem(("parameters", name), f"no value for parameter {name}: pass --set {name}={example}{hint}")
    return values


def _substitute(source: Source, node: Any, path: tuple[Any, ...], values: dict[str, str]) -> Any:
    """The document with ${NAME} replaced in every string (keys and the parameters section are left as written).
    A string that is exactly one placeholder whose value is a number becomes that number (pool_size: ${POOL_SIZE}),
    and a list item that is exactly one placeholder whose value is empty is left out."""
    if isinstance(node, dict):
        return {key: (value if path == () and key == "parameters" else _substitute(source, value, (*path, key), values))
                for key, value in node.items()}
    if isinstance(node, list):
        # An item that is exactly a placeholder with an empty value is left out (channels: ["${ALERT_CHANNEL}"] with none).
        return [_substitute(source, value, (*path, index), values) for index, value in enumerate(node)
                if not (isinstance(value, str) and (whole := PLACEHOLDER.fullmatch(value)) and values.get(whole.group(1)) == "")]
    if not isinstance(node, str) or "${" not in node:
        return node
    for name in PLACEHOLDER.findall(node):
        declared = source.data.get("parameters") if isinstance(source.data.get("parameters"), dict) else {}
        if name not in values and name not in declared:  # a declared one without a value is reported once, above
            source.problem(path, f"${{{name}}} is not a parameter of this file; declare it under parameters: or write the value")
    whole = PLACEHOLDER.fullmatch(node)
    if whole and _NUMBER.match(values.get(whole.group(1), "")):
        number = float(values[whole.group(1)])
        return int(number) if number.is_integer() and "." not in values[whole.group(1)] else number
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), node)


def declared_parameters(text: str, filename: str) -> dict[str, dict[str, Any]]:
    """A file's parameters section (name -> description, example, default), e.g. for a form that asks for them."""
    _root, data = _load(text, filename)
    declared = data.get("parameters") if isinstance(data, dict) else None
    return {str(name): dict(value or {}) for name, value in declared.items()} if isinstance(declared, dict) else {}


def parse(text: str, filename: str = "vigil.yaml", parameters: Mapping[str, str] | None = None) -> tuple[VigilConfig, Source]:
    """Parse and validate; raises ConfigError listing every problem with its line.
    `parameters` are the values for the file's ${NAME} placeholders (its parameters: section)."""
    source = Source(filename)
    try:
        source.root, source.data = _load(text, filename)
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
    if "parameters" in source.data or parameters:
        values = _resolve_parameters(source, parameters or {})
        source.data = _substitute(source, source.data, (), values)
        if source.problems:
            raise ConfigError(source.problems)
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
