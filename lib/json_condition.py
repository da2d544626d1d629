"""Conditions on a JSON document: `$.status == "healthy"`, `$.checks.db.status in ["ok","degraded"]`.

Grammar: PATH [OPERATOR LITERAL]. PATH is `$` followed by `.key`, `["key"]` or
`[index]` steps; OPERATOR is one of == != > >= < <= in, not in, contains; LITERAL
is JSON. A bare PATH means "exists and is truthy".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_MISSING = object()
_STEP = re.compile(r"""\.([A-Za-z_][\w-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*"|'[^']*')\]""")
_OPERATORS = ("not in", "contains", "==", "!=", ">=", "<=", ">", "<", "in")


class ConditionError(ValueError):
    """The condition text cannot be parsed; the message says where and how to fix it."""


@dataclass(frozen=True)
class Condition:
    text: str
    steps: tuple[str | int, ...]
    operator: str | None
    expected: Any

    def evaluate(self, document: Any) -> tuple[bool, Any]:
        """(holds, the value found at the path or None when missing)."""
        value = resolve(document, self.steps)
        if value is _MISSING:
            return False, None
        if self.operator is None:
            return bool(value), value
        try:
            return _compare(value, self.operator, self.expected), value
        except TypeError:
            return False, value


def parse(text: str) -> Condition:
    source = text.strip()
    if not source.startswith("$"):
        raise ConditionError(f"condition {text!r} must start with $ (the document), e.g. $.status == \"healthy\"")
    position = 1
    steps: list[str | int] = []
    while position < len(source):
        match = _STEP.match(source, position)
        if not match:
            break
        key, index, quoted = match.groups()
        if key is not None:
            steps.append(key)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(json.loads(quoted) if quoted.startswith('"') else quoted[1:-1])
        position = match.end()
    rest = source[position:].strip()
    if not rest:
        return Condition(text, tuple(steps), None, None)
    for operator in _OPERATORS:
        if rest.startswith(operator) and (operator[0] in "=!<>" or rest[len(operator):][:1] in (" ", "[", '"', "'")):
            literal = rest[len(operator):].strip()
            if literal.startswith("'") and literal.endswith("'") and len(literal) >= 2:
                literal = json.dumps(literal[1:-1])
            try:
                expected = json.loads(literal)
            except json.JSONDecodeError:
                raise ConditionError(
                    f"condition {text!r}: {literal!r} after {operator!r} is not a JSON value; quote strings, e.g. \"healthy\""
                ) from None
            if operator in ("in", "not in") and not isinstance(expected, list):
                raise ConditionError(f"condition {text!r}: {operator!r} needs a list, e.g. [\"healthy\", \"degraded\"]")
            return Condition(text, tuple(steps), operator, expected)
    raise ConditionError(
        f"condition {text!r}: cannot read {rest!r}; use one of {', '.join(_OPERATORS)} followed by a JSON value"
    )


def resolve(document: Any, steps: tuple[str | int, ...]) -> Any:
    value = document
    for step in steps:
        if isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return _MISSING
    return value


def _compare(value: Any, operator: str, expected: Any) -> bool:
    if operator == "==":
        return bool(value == expected)
    if operator == "!=":
        return bool(value != expected)
    if operator == "in":
        return value in expected
    if operator == "not in":
        return value not in expected
    if operator == "contains":
        return expected in value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not isinstance(expected, (int, float)):
        raise TypeError("ordering needs numbers")
    return {">": value > expected, ">=": value >= expected, "<": value < expected, "<=": value <= expected}[operator]
